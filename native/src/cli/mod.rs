//! The `convoy` command line: parsing, and one function per subcommand.

/// Prints a line on standard output, as `println!` does, except that a reader who
/// stopped reading (`convoy jobs | head -1`) ends the process quietly instead of in a
/// panic, as a closed pipe ends other command-line tools.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::print_line(format_args!($($arg)*))
    };
}

mod control;
mod estimate;
mod progress;
mod prompt;
mod run;
mod show;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use estimate::estimate_job;

use crate::mock::MockConfig;
use crate::store::DEFAULT_PATH;

/// Generate large batches of synthetic conversations, predictably: an estimate before
/// you start, rate limits respected, pause/resume/cancel, crash-safe, every failure kept.
#[derive(Debug, Parser)]
#[command(
    name = "convoy",
    version,
    propagate_version = true,
    after_help = "Log lines go to standard error; CONVOY_LOG=debug (or info, trace, a \
                  tracing filter) shows more than the default warnings."
)]
pub struct Cli {
    /// The SQLite file holding jobs and results.
    #[arg(long, global = true, default_value = DEFAULT_PATH, value_name = "PATH")]
    pub db: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Commands,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Create a job from a job file, show its estimate and run it to the end.
    ///
    /// Ctrl-C pauses (attempts in flight finish, then convoy exits); a second Ctrl-C
    /// exits at once. Exits 0 only when the job completed.
    Run {
        /// The job file (TOML).
        job_file: PathBuf,
        /// Where to write the JSONL export (default: the file's `output`, else
        /// out/NAME-ID.jsonl).
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Continue a paused or interrupted job in this process (or, when another process
    /// runs it, ask that process to resume).
    Resume {
        /// Job name or id.
        job: String,
        /// Where to write the JSONL export.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
        /// A new spend cap in USD, for a job that paused at its old one.
        #[arg(long, value_name = "USD")]
        spend_cap_usd: Option<f64>,
    },
    /// Pause a job: no new attempts start; attempts in flight finish.
    Pause {
        /// Job name or id.
        job: String,
    },
    /// Cancel a job: what has not run is cancelled; attempts in flight finish.
    Cancel {
        /// Job name or id.
        job: String,
    },
    /// Queue the failed items of a finished job again and run them (or, when another
    /// process runs the job, ask that process to).
    Retry {
        /// Job name or id.
        job: String,
        /// Where to write the JSONL export.
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List every job.
    Jobs,
    /// Show a job: counts, cost, timing and its failed items with class and message.
    Status {
        /// Job name or id.
        job: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write a job's conversations as JSONL, one line per succeeded item.
    Export {
        /// Job name or id.
        job: String,
        /// The output file (default: standard output).
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Estimate cost and time of a job file, or of a batch described by flags.
    Estimate(estimate::EstimateArgs),
    /// Print the prompt one item of a job file will be sent, rendered from its tier's
    /// template with the shared and the item's own parameters. Nothing is sent.
    Prompt {
        /// The job file (TOML).
        job_file: PathBuf,
        /// The item's index (items count from 0: the batches in order, then the items
        /// of items files).
        #[arg(long, default_value_t = 0)]
        item: u32,
    },
    /// Serve jobs of many users over HTTP, with a dashboard at /www/dashboard.html.
    ///
    /// Prints `listening on http://ADDR` on its first line. Every /api route needs
    /// `Authorization: Bearer TOKEN`; jobs run inside the server and go on after a
    /// restart.
    Serve(crate::server::ServeArgs),
    /// Run the mock provider: both wire formats over HTTP, with real 429s and faults.
    ///
    /// Prints `listening on http://ADDR` on its first line.
    MockServer {
        /// Where to listen; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: std::net::SocketAddr,
        /// The mock's behaviour.
        #[command(flatten)]
        config: MockConfig,
    },
}

/// A failure at the command line's edge: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// The message, printed after `error: `.
    pub message: String,
    /// The process's exit code.
    pub code: u8,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure {
            message: error.to_string(),
            code: 1,
        }
    }
}

/// Exit code of a job file or a command line that cannot be used.
pub const EXIT_USAGE: u8 = 2;
/// Exit code when a second Ctrl-C left attempts in flight.
pub const EXIT_ABANDONED: u8 = 130;

/// Writes one line of `out!` to standard output.
pub(crate) fn print_line(line: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(error) => {
            eprintln!("error: cannot write to standard output: {error}");
            std::process::exit(1);
        }
    }
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CONVOY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<u8, Failure> {
    let db = cli.db;
    match cli.command {
        Commands::Run { job_file, out } => run::run(&db, &job_file, out).await,
        Commands::Resume {
            job,
            out,
            spend_cap_usd,
        } => run::resume(&db, &job, out, spend_cap_usd).await,
        Commands::Retry { job, out } => run::retry(&db, &job, out).await,
        Commands::Pause { job } => {
            control::pause_or_cancel(&db, &job, crate::store::Command::Pause)
        }
        Commands::Cancel { job } => {
            control::pause_or_cancel(&db, &job, crate::store::Command::Cancel)
        }
        Commands::Jobs => show::jobs(&db),
        Commands::Status { job, json } => show::status(&db, &job, json),
        Commands::Export { job, out } => show::export(&db, &job, out),
        Commands::Estimate(args) => estimate::run(&db, args),
        Commands::Prompt { job_file, item } => prompt::run(&job_file, item),
        Commands::Serve(args) => {
            crate::server::serve(&db, args).await?;
            Ok(0)
        }
        Commands::MockServer { addr, config } => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            out!("listening on http://{}", listener.local_addr()?);
            crate::mock::serve(config, listener).await?;
            Ok(0)
        }
    }
}
