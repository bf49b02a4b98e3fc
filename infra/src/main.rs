//! The binary the Pulumi language host runs (`pulumi up`, `pulumi preview`): see the library
//! for the program itself.

use std::process::ExitCode;

fn main() -> ExitCode {
    match pulumi_gestalt_rust::run(wspush_infra::program) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain, ending with the typed configuration error.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
