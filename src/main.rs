//! `exhibit`: one command line for the whole pipeline. This file only wires subcommands to the crates
//! that do the work, and maps failures to exit codes: 1 for bad input, 2 for a usage error.

mod client;
mod commands;
mod output;
mod qr;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Trustworthy 3D models of court evidence.
#[derive(Debug, Parser)]
#[command(name = "exhibit", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Turn a scan mesh (PLY with faces, OBJ, glTF) into a compressed GLB with its manifest.
    Ingest(commands::ingest::Args),
    /// Describe a model or scan file: counts, bounds, attributes, manifest.
    Info(commands::info::Args),
    /// Draw a model offscreen into a PNG (no window, no GPU needed).
    Render(commands::render::Args),
    /// Align model B onto model A and measure A's deviation from B: statistics, heat map, report.
    Compare(commands::compare::Args),
    /// Open a model in the hearing-room window (measure, clip, annotate, screenshot).
    View(commands::view::Args),
    /// Run the court store: cases, evidence, model versions, uploads, share links.
    Serve(commands::serve::Args),
    /// Send a model or raw scan to the court store (resumes after failures).
    Upload(commands::upload::Args),
    /// Create a view-only, expiring share link to a model version, with its QR code.
    Share(commands::share::Args),
    /// Send a case to the court of appeal: a signed bundle file, or straight into its store.
    Transfer(commands::transfer::Args),
    /// Check a model against its manifest, a transfer bundle, or a whole store.
    Verify(commands::verify::Args),
    /// Run the main job on a bundled sample scan and show where everything went.
    Demo(commands::demo::Args),
    /// Open, list and show cases, and add their members (the clerk's work).
    Case(commands::case::Args),
    /// Add an evidence item to a case.
    Evidence(commands::evidence::Args),
    /// Add users of the store (their token is printed once).
    User(commands::user::Args),
}

fn main() -> ExitCode {
    // `ingest --help` lists every format and unit from the table the README's is made from.
    let command = <Cli as clap::CommandFactory>::command().mut_subcommand("ingest", |ingest| {
        ingest.after_help(ingest::formats::help_text())
    });
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let result = match cli.command {
        Command::Ingest(args) => commands::ingest::run(&args),
        Command::Info(args) => commands::info::run(&args),
        Command::Demo(args) => commands::demo::run(&args),
        Command::Render(args) => commands::render::run(&args),
        Command::View(args) => commands::view::run(&args),
        Command::Compare(args) => commands::compare::run(&args),
        Command::Serve(args) => commands::serve::run(&args),
        Command::Upload(args) => commands::upload::run(&args),
        Command::Share(args) => commands::share::run(&args),
        Command::Verify(args) => commands::verify::run(&args),
        Command::Transfer(args) => commands::transfer::run(&args),
        Command::Case(args) => commands::case::run(&args),
        Command::Evidence(args) => commands::evidence::run(&args),
        Command::User(args) => commands::user::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain of context on one line, outermost first.
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
