//! `recorder-svc` binary: load settings, serve the internal API until stopped.

use std::process::ExitCode;

use recorder_svc::settings::Settings;
use recorder_svc::startup::Application;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("recorder-svc: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    recorder_svc::telemetry::init(settings.debug, settings.json_logs);
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("recorder-svc: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped with an error");
            ExitCode::FAILURE
        }
    }
}
