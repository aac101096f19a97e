//! The package of a deployment: manifest, digest, wheel and other artifacts.
