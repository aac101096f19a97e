//! The bundle's Python virtual environment, kept in step with requirements.txt.
//!
//! One venv per repository (`<repo>/.venv`, or `XTASK_VENV`). It is created
//! with the system Python's `venv` module on first use and refreshed with the
//! venv's own pip whenever the requirements change, so the system Python is
//! never modified. A marker file inside the venv records the hash of what was
//! installed last: an unchanged requirements file costs one file read.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::project::Project;

/// Inside the venv: the hash of the requirements last installed successfully.
const MARKER: &str = "xtask-requirements.hash";
/// Inside the venv: pip's output, appended to by every install.
const PIP_LOG: &str = "xtask-pip.log";
/// Inside the venv: taken while creating or refreshing it.
const LOCK: &str = "xtask.lock";
/// Inside the venv: written when xtask creates it. Only a folder carrying this
/// (or the requirements hash of older versions) is ever cleared: `XTASK_VENV`
/// may point anywhere, and a folder we did not make is not ours to empty.
const OWNER: &str = "xtask-venv";
/// Bump when the install recipe changes, so existing venvs refresh once.
const RECIPE: &str = "xtask-pyenv-1";

/// The venv's python executable, creating or refreshing the venv first when
/// needed. `requirements` is a pip requirements file (usually the bundle's).
pub fn ensure(project: &Project, requirements: &Path) -> Result<PathBuf> {
    let venv = match std::env::var_os("XTASK_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => project.repo_root.join(".venv"),
    };
    // Absolute: tasks run the venv's python from their own working folders.
    let venv =
        std::path::absolute(&venv).with_context(|| format!("resolving {}", venv.display()))?;
    let python = std::env::var_os("XTASK_PYTHON").filter(|p| !p.is_empty());
    ensure_at(
        &venv,
        python.as_deref(),
        requirements,
        !project.settings.quiet,
    )
}

/// What `ensure` does, with the environment variables already read.
pub fn ensure_at(
    venv: &Path,
    python: Option<&OsStr>,
    requirements: &Path,
    chatty: bool,
) -> Result<PathBuf> {
    let reqs = fs::read_to_string(requirements)
        .with_context(|| format!("reading Python requirements {}", requirements.display()))?;
    let needs_pytest = !lists_pytest(&reqs);
    let wanted = wanted_hash(&reqs);

    let venv_python = venv_python(venv);
    let usable = venv_python.is_file() && starts(&venv_python);
    if usable && fs::read_to_string(venv.join(MARKER)).is_ok_and(|m| m.trim() == wanted) {
        return Ok(venv_python);
    }
    if !usable {
        check_ours(venv)?;
    }

    // Find Python before touching the disk: without one, nothing is created.
    let system = if usable {
        None
    } else {
        Some(find_python(python)?)
    };
    fs::create_dir_all(venv).with_context(|| format!("creating {}", venv.display()))?;
    let _lock = lock(venv)?;
    // Another xtask (say `watch` next to `test`) may have done the work while we waited.
    let usable = venv_python.is_file() && starts(&venv_python);
    if usable && fs::read_to_string(venv.join(MARKER)).is_ok_and(|m| m.trim() == wanted) {
        return Ok(venv_python);
    }

    if !usable {
        let system = match system {
            Some(s) => s,
            None => find_python(python)?,
        };
        if chatty {
            eprintln!("Creating the Python environment {} ...", venv.display());
        }
        // A venv whose interpreter vanished (the system Python was upgraded)
        // is rebuilt from scratch; the lock file stays, it is held. Checked
        // again under the lock: only our own folder is ever emptied.
        check_ours(venv)?;
        fs::write(
            venv.join(OWNER),
            "created by cargo xtask; cleared and rebuilt when broken\n",
        )
        .with_context(|| format!("writing {}", venv.join(OWNER).display()))?;
        for entry in fs::read_dir(venv)?.flatten() {
            if entry.file_name() == LOCK || entry.file_name() == OWNER {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() && !path.is_symlink() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.with_context(|| format!("clearing {}", path.display()))?;
        }
        let out = Command::new(&system)
            .args([OsStr::new("-m"), OsStr::new("venv"), venv.as_os_str()])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {} -m venv", system.to_string_lossy()))?;
        if !out.status.success() {
            bail!(
                "creating the virtual environment {} with {} failed:\n{}",
                venv.display(),
                system.to_string_lossy(),
                tail(&String::from_utf8_lossy(&out.stderr), 20)
            );
        }
    }

    install(venv, &venv_python, requirements, needs_pytest, chatty)?;
    fs::write(venv.join(MARKER), format!("{wanted}\n"))
        .with_context(|| format!("writing {}", venv.join(MARKER).display()))?;
    Ok(venv_python)
}

/// What the marker holds once `reqs` is installed by this recipe.
fn wanted_hash(reqs: &str) -> String {
    let needs_pytest = !lists_pytest(reqs);
    blake3::hash(format!("{RECIPE}\n{needs_pytest}\n{reqs}").as_bytes())
        .to_hex()
        .to_string()
}

/// A folder that may be (re)built as our venv: absent, empty (but for our
/// lock), or marked as made by xtask. Anything else is someone's data.
fn check_ours(venv: &Path) -> Result<()> {
    let entries = match fs::read_dir(venv) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", venv.display())),
    };
    let mut foreign = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == OWNER || name == MARKER {
            return Ok(());
        }
        foreign |= name != LOCK;
    }
    if foreign {
        bail!(
            "{} is not empty and is not a Python environment made by xtask (no {OWNER} file in it); \
             refusing to clear it: point XTASK_VENV at a new or empty folder, or remove this one yourself",
            venv.display()
        );
    }
    Ok(())
}

/// Held while a venv is created or refreshed: one install at a time per venv.
fn lock(venv: &Path) -> Result<fs::File> {
    use std::os::fd::AsRawFd;
    let path = venv.join(LOCK);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock(2) on a descriptor this function owns; released when the file is closed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("locking {}", path.display()));
    }
    Ok(file)
}

/// `pip install -r requirements` with the venv's own pip, output to the log.
fn install(
    venv: &Path,
    python: &Path,
    requirements: &Path,
    add_pytest: bool,
    chatty: bool,
) -> Result<()> {
    let log_path = venv.join(PIP_LOG);
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let started = log.metadata().map(|m| m.len()).unwrap_or(0);
    writeln!(
        log,
        "== xtask: pip install -r {}{}",
        requirements.display(),
        if add_pytest { " pytest" } else { "" }
    )?;
    if chatty {
        eprintln!(
            "Installing {} into {} ...",
            requirements.display(),
            venv.display()
        );
        if add_pytest {
            eprintln!(
                "note: {} does not list pytest; installing pytest too",
                requirements.display()
            );
        }
    }
    let mut args: Vec<OsString> = [
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "-r",
    ]
    .map(OsString::from)
    .to_vec();
    args.push(requirements.into());
    if add_pytest {
        args.push("pytest".into());
    }
    let status = Command::new(python)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .status()
        .with_context(|| format!("running {} -m pip", python.display()))?;
    if !status.success() {
        let text = fs::read(&log_path).unwrap_or_default();
        let this_run = String::from_utf8_lossy(text.get(started as usize..).unwrap_or(&text));
        bail!(
            "pip install -r {} failed ({status}); the last lines of {}:\n{}",
            requirements.display(),
            log_path.display(),
            tail(&this_run, 15)
        );
    }
    Ok(())
}

/// The system Python 3: `override_` (from `XTASK_PYTHON`), else `python3`, else `python`.
pub fn find_python(override_: Option<&OsStr>) -> Result<OsString> {
    const HELP: &str = "Python 3 is required to run the bundle's code: install it (python3 on PATH) \
                        or set XTASK_PYTHON to a Python 3 interpreter";
    let candidates: Vec<OsString> = match override_ {
        Some(p) => vec![p.to_os_string()],
        None => vec!["python3".into(), "python".into()],
    };
    let mut tried = Vec::new();
    for cand in candidates {
        let out = Command::new(&cand)
            .args([
                "-c",
                "import sys; print(sys.version_info[0], sys.version_info[1]); print(sys.executable)",
            ])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => {
                let stdout = String::from_utf8_lossy(&out.stdout);
                let mut lines = stdout.lines();
                let version = lines.next().unwrap_or("").trim().to_string();
                if version.split(' ').next() == Some("3") {
                    // The interpreter itself, not a launcher such as a pyenv
                    // shim: tasks start it many times, and a shim costs each start.
                    return Ok(match lines.next().map(str::trim) {
                        Some(exe) if !exe.is_empty() && Path::new(exe).is_file() => exe.into(),
                        _ => cand,
                    });
                }
                tried.push(format!(
                    "{} is Python {}",
                    cand.to_string_lossy(),
                    version.replace(' ', ".")
                ));
            }
            Ok(out) => tried.push(format!(
                "{} exited with {}",
                cand.to_string_lossy(),
                out.status
            )),
            Err(err) => tried.push(format!("{}: {err}", cand.to_string_lossy())),
        }
    }
    let source = if override_.is_some() {
        " (from XTASK_PYTHON)"
    } else {
        ""
    };
    bail!("{HELP}; tried{source}: {}", tried.join("; "))
}

fn venv_python(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// Whether the venv's python starts, asked twice: one failed start (a busy
/// machine, a signal) is no reason to rebuild the whole venv.
fn starts(python: &Path) -> bool {
    runs(python) || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        runs(python)
    }
}

fn runs(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "pass"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether a requirements file names pytest (`pytest`, `pytest==8.*`,
/// `pytest[extra]>=8`, ...), not a plugin like `pytest-cov`.
fn lists_pytest(reqs: &str) -> bool {
    reqs.lines().any(|line| {
        let line = line.split('#').next().unwrap_or("").trim();
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
            .unwrap_or(line.len());
        line[..name_end].eq_ignore_ascii_case("pytest")
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pip_runs(venv: &Path) -> usize {
        fs::read_to_string(venv.join(PIP_LOG))
            .unwrap_or_default()
            .matches("== xtask: pip install")
            .count()
    }

    #[test]
    fn requirements_naming_pytest() {
        assert!(lists_pytest("numpy\npytest==8.3\n"));
        assert!(lists_pytest("PyTest[testing] >= 8 # tests\n"));
        assert!(!lists_pytest("pytest-cov\n# pytest\n"));
        assert!(!lists_pytest(""));
    }

    #[test]
    fn missing_python_is_a_clear_error() {
        let err = find_python(Some(OsStr::new("/nonexistent/python3")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("Python 3 is required"), "{err}");
        assert!(err.contains("XTASK_PYTHON"), "{err}");
        assert!(err.contains("/nonexistent/python3"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let reqs = dir.path().join("requirements.txt");
        fs::write(&reqs, "").unwrap();
        let venv = dir.path().join("venv");
        let err = ensure_at(&venv, Some(OsStr::new("/nonexistent")), &reqs, false).unwrap_err();
        assert!(format!("{err:#}").contains("Python 3 is required"));
        assert!(!venv.exists(), "nothing is created without a Python");
    }

    #[test]
    fn python2_is_refused() {
        // A fake interpreter that reports version 2.7.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("python");
        fs::write(&fake, "#!/bin/sh\necho 2 7\n").unwrap();
        let mut perms = fs::metadata(&fake).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(&fake, perms).unwrap();
        let err = find_python(Some(fake.as_os_str())).unwrap_err().to_string();
        assert!(err.contains("is Python 2.7"), "{err}");
    }

    /// Creation, a no-op second call, and a refresh after a change, on a real
    /// venv. The requirements are tiny pure-Python packages from PyPI.
    #[test]
    fn creates_reuses_and_refreshes() {
        if !e2e::slow_tests_enabled("creates_reuses_and_refreshes") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv");
        let reqs = dir.path().join("requirements.txt");
        fs::write(&reqs, "pytest\n").unwrap();

        let python = ensure_at(&venv, None, &reqs, false).unwrap();
        assert!(python.starts_with(&venv));
        assert_eq!(pip_runs(&venv), 1);
        let import = |module: &str| {
            Command::new(&python)
                .args(["-c", &format!("import {module}")])
                .status()
                .unwrap()
                .success()
        };
        assert!(import("pytest"));

        // Unchanged requirements: no pip run at all.
        let again = ensure_at(&venv, None, &reqs, false).unwrap();
        assert_eq!(again, python);
        assert_eq!(pip_runs(&venv), 1);

        // Changed requirements: pip runs once more and the new package is there.
        fs::write(&reqs, "pytest\nsix\n").unwrap();
        ensure_at(&venv, None, &reqs, false).unwrap();
        assert_eq!(pip_runs(&venv), 2);
        assert!(import("six"));

        // A requirements file without pytest still yields pytest (kept installed).
        fs::write(&reqs, "six\n").unwrap();
        ensure_at(&venv, None, &reqs, false).unwrap();
        assert!(
            fs::read_to_string(venv.join(PIP_LOG))
                .unwrap()
                .contains("requirements.txt pytest")
        );

        // A requirement that cannot be installed: an error with pip's words, marker unchanged.
        let marker = fs::read_to_string(venv.join(MARKER)).unwrap();
        fs::write(&reqs, "this-package-does-not-exist-xtask-0c1d==1.0\n").unwrap();
        let err = format!("{:#}", ensure_at(&venv, None, &reqs, false).unwrap_err());
        assert!(
            err.contains("pip install -r") && err.contains("this-package-does-not-exist"),
            "{err}"
        );
        assert_eq!(fs::read_to_string(venv.join(MARKER)).unwrap(), marker);
    }

    fn script(path: &Path, body: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
        let mut perms = fs::metadata(path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        fs::set_permissions(path, perms).unwrap();
    }

    /// `XTASK_VENV` at a folder of someone's files: an error naming it, nothing deleted.
    #[test]
    fn a_foreign_folder_is_never_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let reqs = dir.path().join("requirements.txt");
        fs::write(&reqs, "pytest\n").unwrap();
        let home = dir.path().join("home");
        fs::create_dir_all(home.join("photos")).unwrap();
        fs::write(home.join("thesis.tex"), "years of work").unwrap();
        let err = format!("{:#}", ensure_at(&home, None, &reqs, false).unwrap_err());
        assert!(err.contains(&home.display().to_string()), "{err}");
        assert!(err.contains("refusing to clear it"), "{err}");
        assert!(home.join("thesis.tex").is_file() && home.join("photos").is_dir());

        // A real venv of the user's whose python is broken: also not ours to rebuild.
        let theirs = dir.path().join("theirs");
        script(&venv_python(&theirs), "#!/bin/sh\nexit 1\n");
        fs::write(theirs.join("pyvenv.cfg"), "home = /usr/bin\n").unwrap();
        let err = format!("{:#}", ensure_at(&theirs, None, &reqs, false).unwrap_err());
        assert!(err.contains("refusing to clear it"), "{err}");
        assert!(theirs.join("pyvenv.cfg").is_file());
    }

    /// Our venv, up to date, whose python fails to start once: used as is, not rebuilt.
    #[test]
    fn a_python_that_fails_once_keeps_its_venv() {
        let dir = tempfile::tempdir().unwrap();
        let reqs = dir.path().join("requirements.txt");
        fs::write(&reqs, "pytest\n").unwrap();
        let venv = dir.path().join("venv");
        let once = dir.path().join("failed-once");
        script(
            &venv_python(&venv),
            &format!(
                "#!/bin/sh\n[ -e {0} ] && exit 0\ntouch {0}\nexit 1\n",
                once.display()
            ),
        );
        fs::write(venv.join(OWNER), "").unwrap();
        fs::write(venv.join(MARKER), wanted_hash("pytest\n")).unwrap();
        fs::write(venv.join("site-packages-sentinel"), "").unwrap();
        let python = ensure_at(&venv, Some(OsStr::new("/nonexistent")), &reqs, false).unwrap();
        assert_eq!(python, venv_python(&venv));
        assert!(once.exists(), "the first start did fail");
        assert!(venv.join("site-packages-sentinel").exists());
    }

    /// Two callers at once install once; a venv whose interpreter vanished is rebuilt.
    #[test]
    fn concurrent_callers_and_a_broken_venv() {
        if !e2e::slow_tests_enabled("concurrent_callers_and_a_broken_venv") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv");
        let reqs = dir.path().join("requirements.txt");
        fs::write(&reqs, "pytest\n").unwrap();
        let pythons: Vec<PathBuf> = std::thread::scope(|s| {
            let calls: Vec<_> = (0..2)
                .map(|_| s.spawn(|| ensure_at(&venv, None, &reqs, false).unwrap()))
                .collect();
            calls.into_iter().map(|c| c.join().unwrap()).collect()
        });
        assert_eq!(pythons[0], pythons[1]);
        assert_eq!(
            pip_runs(&venv),
            1,
            "the second caller waited and found the work done"
        );

        fs::remove_file(venv_python(&venv)).unwrap();
        let python = ensure_at(&venv, None, &reqs, false).unwrap();
        assert!(runs(&python));
        assert!(
            Command::new(&python)
                .args(["-c", "import pytest"])
                .status()
                .unwrap()
                .success()
        );
        assert_eq!(pip_runs(&venv), 1, "a rebuilt venv starts a fresh log");
    }
}
