//! The `scalekeeper` binary: parses the arguments, starts logging and the async runtime, and
//! runs the library ([`scalekeeper::runtime`]).

use std::process::ExitCode;

use scalekeeper::runtime::{self, Args};

fn main() -> ExitCode {
    // One crypto provider for kube and tonic alike.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Args { command } = runtime::parse_args();
    runtime::init_logging(&command);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("starting the async runtime: {e}"))
        .and_then(|rt| rt.block_on(runtime::run(command)));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
