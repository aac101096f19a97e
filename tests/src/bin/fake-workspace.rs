//! Serves the fake workspace for benchmarks and manual checks:
//! `cargo run -p e2e --bin fake-workspace -- [PORT]`. Prints the URL and the
//! token on stdout (one `KEY=value` per line), then serves until killed.

use e2e::fake_workspace::{DEFAULT_TOKEN, DEFAULT_USER, FakeWorkspace, announce};

fn main() {
    let port = match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => 0,
        Some(Ok(p)) => p,
        Some(Err(_)) => {
            eprintln!("usage: fake-workspace [PORT]");
            std::process::exit(2);
        }
    };
    let fake = match FakeWorkspace::start_on(port, DEFAULT_USER, DEFAULT_TOKEN) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake-workspace: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = announce(&fake, &mut std::io::stdout()) {
        eprintln!("fake-workspace: cannot print the URL: {e}");
        std::process::exit(1);
    }
    loop {
        std::thread::park();
    }
}
