use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use contract::Hook;
use host::backup_set::BackupSet;
use host::cluster::{ClusterOptions, Timeouts};
use host::error::Error;
use host::plugin::inspect;
use host::run::{self, Kind, PluginSource, Session, Settings, report};
use host::sandbox::InstanceLimits;

mod cli;
use cli::{Action, Cli, Command, Global, RunArgs};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    logging(cli.global.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = runtime.block_on(dispatch(cli));
    // A blocking task stuck on a dead stream (after an interrupt) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Errors can quote a plugin's manifest or output.
            eprintln!("error: {}", host::printable::printable(&e.to_string()));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Diagnostics on stderr through `tracing`: `RUST_LOG` if set, else warnings, `-v` for
/// the host's debug lines (retries, cache decisions), `-vv` for everything.
fn logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "warn,host=debug",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn exit_code(e: &Error) -> u8 {
    match e {
        Error::BadPlugin { .. } | Error::BadPluginSet { .. } | Error::Invalid(_) => 2,
        Error::BadSet { .. } | Error::Refused(_) => 3,
        _ => 1,
    }
}

async fn dispatch(cli: Cli) -> Result<u8, Error> {
    let g = &cli.global;
    match cli.command {
        Command::Inspect { ref file, json } => inspect_cmd(file, json),
        Command::Verify {
            ref plugins,
            ref backup_dir,
        } => verify_cmd(g, plugins, backup_dir),
        Command::Run {
            action,
            ref plugin,
            ref run,
        } => {
            let source = PluginSource::File(plugin.clone());
            match action {
                Action::Backup => backup(settings(g, source, run, 1, None)).await,
                Action::Restore => restore(settings(g, source, run, 1, None)).await,
            }
        }
        Command::Backup {
            ref plugins,
            ref run,
            parallel,
        } => {
            backup(settings(
                g,
                PluginSource::Dir(plugins.clone()),
                run,
                parallel,
                None,
            ))
            .await
        }
        Command::Restore {
            ref plugins,
            ref run,
        } => {
            restore(settings(
                g,
                PluginSource::Dir(plugins.clone()),
                run,
                1,
                None,
            ))
            .await
        }
        Command::Resume {
            ref plugins,
            ref run,
            ref args,
        } => {
            let s = settings(
                g,
                PluginSource::Dir(plugins.clone()),
                args,
                1,
                Some(run.clone()),
            );
            let session = Arc::new(Session::open(s, Kind::Resume).await?);
            let r = run::restore::resume(session).await?;
            print!("{}", report::restore(&r));
            Ok(if r.ok() { 0 } else { 4 })
        }
    }
}

fn settings(
    g: &Global,
    plugins: PluginSource,
    run: &RunArgs,
    parallel: usize,
    resume_run: Option<String>,
) -> Settings {
    Settings {
        cluster: ClusterOptions {
            kubeconfig: g.kubeconfig.clone(),
            context: g.context.clone(),
            namespace: g.namespace.clone(),
        },
        backup_dir: run.backup_dir.clone(),
        plugins,
        cache_dir: if g.no_cache {
            None
        } else {
            g.cache_dir
                .clone()
                .or_else(host::sandbox::cache::Cache::default_dir)
        },
        quiet: g.quiet,
        force: run.force,
        parallel,
        limits: InstanceLimits {
            memory: run.plugin_memory << 20,
            cpu: Duration::from_secs(run.plugin_cpu),
            wall: Duration::from_secs(run.hook_timeout),
            set_bytes: run.max_set_size,
            ..InstanceLimits::default()
        },
        timeouts: Timeouts {
            idle: Duration::from_secs(run.idle_timeout),
            ..Timeouts::default()
        },
        resume_run,
    }
}

async fn backup(s: Settings) -> Result<u8, Error> {
    let session = Arc::new(Session::open(s, Kind::Backup).await?);
    let r = run::backup::run(session).await?;
    print!("{}", report::backup(&r));
    Ok(if r.ok() { 0 } else { 1 })
}

async fn restore(s: Settings) -> Result<u8, Error> {
    let session = Arc::new(Session::open(s, Kind::Restore).await?);
    let r = run::restore::run(session).await?;
    print!("{}", report::restore(&r));
    Ok(if r.ok() {
        0
    } else if r.not_put_back.is_empty() {
        1
    } else {
        4
    })
}

fn inspect_cmd(file: &std::path::Path, json: bool) -> Result<u8, Error> {
    let bytes = host::plugin::read(file)?;
    let examined = inspect::examine(file, &bytes)?;
    let m = &examined.manifest;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(m).expect("manifest serialises")
        );
        return Ok(0);
    }
    print!("{}", inspect::render(file, &examined));
    Ok(0)
}

fn verify_cmd(
    _g: &Global,
    plugins: &std::path::Path,
    backup_dir: &std::path::Path,
) -> Result<u8, Error> {
    let manifests = manifests_in(plugins)?;
    let set = BackupSet::open(backup_dir)?;
    let v = host::backup_set::verify::verify(&set, &manifests)?;
    for w in &v.warnings {
        println!("warning: {w}");
    }
    println!(
        "{}: {} files, {} verified",
        backup_dir.display(),
        v.files,
        host::progress::human(v.bytes)
    );
    Ok(0)
}

/// Manifests read from the files alone: verifying a set runs no plugin code.
fn manifests_in(dir: &std::path::Path) -> Result<Vec<contract::Manifest>, Error> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "wasm") {
            let bytes = host::plugin::read(&path)?;
            let m = inspect::examine(&path, &bytes)?.manifest;
            if m.has_hook(Hook::Restore) || !m.artifacts.is_empty() {
                out.push(m);
            }
        }
    }
    Ok(out)
}
