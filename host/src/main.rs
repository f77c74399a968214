use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use contract::Hook;
use host::backup_set::BackupSet;
use host::cluster::{ClusterOptions, Timeouts};
use host::error::Error;
use host::plugin::inspect;
use host::plugin::sets::{self, Layout};
use host::plugin::signature::{self, Requirement};
use host::plugin::{oci, scaffold};
use host::run::{self, Kind, PluginSource, Session, Settings, report};
use host::sandbox::InstanceLimits;

mod cli;
use cli::{
    Action, Cli, Command, Global, KeyAction, PluginAction, RegistryArgs, RestoreChecks, RunArgs,
    SetChecks,
};
use host::backup_set::{seal, verify};

fn main() -> ExitCode {
    // Everything the host creates (the set, its runs' journals and audit logs, keys,
    // the compiled cache) is the user's alone: a set holds every 3scale Secret.
    // SAFETY: umask has no preconditions and no other thread runs yet.
    unsafe {
        libc::umask(0o077);
    }
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
        Error::BadSet { .. } | Error::Refused(_) | Error::Unsigned { .. } => 3,
        _ => 1,
    }
}

async fn dispatch(cli: Cli) -> Result<u8, Error> {
    let g = &cli.global;
    match cli.command {
        Command::Inspect {
            ref file,
            json,
            ref keys,
        } => inspect_cmd(file, json, keys),
        Command::Plugin { ref action } => plugin_cmd(action).await,
        Command::Verify {
            ref plugins,
            ref backup_dir,
            ref checks,
            ref require_signed,
        } => verify_cmd(
            &plugins_dir(plugins)?,
            backup_dir,
            checks,
            require_signed.as_deref(),
        ),
        Command::Seal {
            ref sign_key,
            ref backup_dir,
        } => seal_cmd(sign_key, backup_dir),
        Command::Key {
            action: KeyAction::New { ref out },
        } => {
            let (public, print) = seal::generate(out)?;
            println!(
                "private key: {} (keep it private: it seals sets)",
                out.display()
            );
            println!(
                "public key:  {} ({print}; give it to --trust-key)",
                public.display()
            );
            Ok(0)
        }
        Command::Run {
            action,
            ref plugin,
            ref run,
            ref checks,
        } => {
            let source = PluginSource::File(plugin.clone());
            match action {
                Action::Backup => backup(settings(g, source, run, 1, None)).await,
                Action::Restore => {
                    let mut s = settings(g, source, run, 1, None);
                    s.checks = restore_checks(checks)?;
                    restore(s).await
                }
            }
        }
        Command::Backup {
            ref plugins,
            ref run,
            parallel,
            ref sign_key,
        } => {
            let mut s = settings(
                g,
                PluginSource::Dir(plugins_dir(plugins)?),
                run,
                parallel,
                None,
            );
            // Read before the backup: a key that cannot seal is found before any work.
            s.sign_key = sign_key.as_deref().map(seal::signing_key).transpose()?;
            backup(s).await
        }
        Command::Restore {
            ref plugins,
            ref run,
            ref checks,
        } => {
            let mut s = settings(g, PluginSource::Dir(plugins_dir(plugins)?), run, 1, None);
            s.checks = restore_checks(checks)?;
            restore(s).await
        }
        Command::Resume {
            ref plugins,
            ref run,
            ref args,
        } => {
            let s = settings(
                g,
                PluginSource::Dir(plugins_dir(plugins)?),
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

/// `--plugins`, else the directory sets are installed in.
fn plugins_dir(given: &Option<PathBuf>) -> Result<PathBuf, Error> {
    given.clone().or_else(sets::default_dir).ok_or_else(|| {
        Error::Invalid(
            "no --plugins DIR, and neither XDG_DATA_HOME nor HOME is set to find the default (XDG_DATA_HOME/host/plugins)".into(),
        )
    })
}

fn set_checks(c: &SetChecks) -> Result<verify::Checks, Error> {
    Ok(verify::Checks {
        trusted: c
            .trust_keys
            .iter()
            .map(|k| seal::trusted_key(k))
            .collect::<Result<_, _>>()?,
        hand_made: c.hand_made,
        other_plugins: c.other_plugins,
        namespace: None,
        other_namespace: false,
    })
}

fn restore_checks(c: &RestoreChecks) -> Result<verify::Checks, Error> {
    let mut checks = set_checks(&c.set)?;
    checks.other_namespace = c.other_namespace;
    Ok(checks)
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
        checks: verify::Checks::default(),
        sign_key: None,
        require_signed: run.require_signed.clone(),
    }
}

async fn backup(s: Settings) -> Result<u8, Error> {
    let session = Arc::new(Session::open(s, Kind::Backup).await?);
    if let Some(mode) = session.set.readable_by_others() {
        session.progress().line(&format!(
            "warning: {} has mode {mode:o}: others can list the set (its files are yours alone); chmod 700 it",
            session.set.path().display()
        ));
    }
    let r = run::backup::run(session).await?;
    print!("{}", report::backup(&r));
    Ok(if r.ok() && r.not_sealed.is_none() {
        0
    } else {
        1
    })
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

fn inspect_cmd(file: &std::path::Path, json: bool, keys: &[PathBuf]) -> Result<u8, Error> {
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
    let trusted = keys
        .iter()
        .map(|k| seal::trusted_key(k))
        .collect::<Result<Vec<_>, _>>()?;
    print!("{}", inspect::render(file, &examined));
    for line in signature::describe(file, &bytes, &trusted) {
        println!("{}", host::printable::printable(&line));
    }
    Ok(0)
}

/// A plugin file, or every `*.wasm` of a set directory.
fn plugin_files(path: &std::path::Path) -> Result<Vec<PathBuf>, Error> {
    if path.is_dir() {
        let files = signature::wasm_files(path)?;
        if files.is_empty() {
            return Err(Error::bad_plugin(path, "holds no .wasm plugins"));
        }
        Ok(files)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

fn registry_options(r: &RegistryArgs) -> oci::Options {
    oci::Options {
        plain_http: r.plain_http,
    }
}

async fn plugin_cmd(action: &PluginAction) -> Result<u8, Error> {
    match action {
        PluginAction::Sign { key, path } => {
            let key = seal::signing_key(key)?;
            let print = seal::fingerprint(&key.verifying_key());
            for file in plugin_files(path)? {
                let (sig, digest) = signature::sign_file(&file, &key)?;
                println!("{}: {digest} signed by {print}", sig.display());
            }
            Ok(0)
        }
        PluginAction::Verify { key, path } => {
            let required = Requirement {
                keys: vec![seal::trusted_key(key)?],
            };
            for file in plugin_files(path)? {
                let signer = required.check(&file)?;
                println!("{}: signature checks (signed by {signer})", file.display());
            }
            Ok(0)
        }
        PluginAction::Push {
            reference,
            path,
            set,
            registry,
        } => {
            let pushed =
                oci::push(reference, path, set.as_deref(), &registry_options(registry)).await?;
            for (file, digest, signed) in &pushed.plugins {
                println!(
                    "pushed {file} ({digest}){}",
                    if *signed {
                        " with its signature"
                    } else {
                        ", unsigned"
                    }
                );
            }
            if path.is_dir() {
                println!("pushed set {} as {}", pushed.set, pushed.pinned);
            } else {
                println!(
                    "pushed {} (set {}) as {}",
                    path.display(),
                    pushed.set,
                    pushed.pinned
                );
            }
            println!("pull it pinned: host plugin pull {}", pushed.pinned);
            Ok(0)
        }
        PluginAction::Pull {
            reference,
            to,
            require_signed,
            registry,
        } => {
            let root = plugins_dir(to)?;
            let required = Requirement::load(require_signed.as_slice())?;
            let pulled = oci::pull(
                reference,
                &root,
                &registry_options(registry),
                required.as_ref(),
            )
            .await?;
            for (file, digest, signer) in &pulled.plugins {
                let signed = match (signer, &required) {
                    (Some(by), Some(_)) => format!("signature checks, by {by}"),
                    (Some(by), None) => format!("signed by {by}, not checked"),
                    (None, _) => "unsigned".to_string(),
                };
                println!("{file}: {digest} ({signed})");
            }
            if pulled.by_tag {
                println!("{reference} resolved to {}", pulled.pinned);
            }
            println!("pulled {} into {}", pulled.pinned, pulled.dir.display());
            Ok(0)
        }
        PluginAction::New {
            name,
            dir,
            sdk,
            threescale,
        } => {
            let made = scaffold::new(name, dir.as_deref(), sdk.as_deref(), threescale)?;
            println!("wrote plugin crate {} in {}", name, made.dir.display());
            if made.member {
                println!(
                    "it is a member of the workspace: ./scripts/build-plugins builds it into target/plugins/3scale-{threescale}/"
                );
            } else {
                println!(
                    "build it: cd {} && cargo build --release --target wasm32-wasip2 (-> target/{})",
                    made.dir.display(),
                    made.wasm
                );
            }
            Ok(0)
        }
    }
}

fn verify_cmd(
    plugins: &std::path::Path,
    backup_dir: &std::path::Path,
    checks: &SetChecks,
    require_signed: Option<&std::path::Path>,
) -> Result<u8, Error> {
    let checks = set_checks(checks)?;
    let required = match require_signed {
        Some(k) => Some(Requirement {
            keys: vec![seal::trusted_key(k)?],
        }),
        None => None,
    };
    let set = BackupSet::open(backup_dir)?;
    let plugins = match sets::survey(plugins)? {
        Layout::One => plugins.to_path_buf(),
        Layout::Several(several) => {
            let made = set.manifest()?.and_then(|m| m.threescale_version);
            let source = format!(
                "the backup set {} was made from {}",
                backup_dir.display(),
                made.as_deref()
                    .map(|v| format!("3scale {v}"))
                    .unwrap_or_else(|| "an unrecorded 3scale version (no manifest.json)".into())
            );
            let chosen = several.choose(made.as_deref(), &source)?;
            println!("{}", chosen.reason);
            chosen.dir
        }
    };
    if let Some(r) = &required {
        r.check_dir(&plugins)?;
    }
    let plugins = plugins_in(&plugins)?;
    let v = verify::verify(&set, &plugins, &checks)?;
    for w in &v.warnings {
        println!("warning: {w}");
    }
    println!(
        "{}: {} files, {} verified{}",
        backup_dir.display(),
        v.files,
        host::progress::human(v.bytes),
        match &v.sealed_by {
            Some(key) => format!(", sealed by {key}"),
            None => String::new(),
        }
    );
    Ok(0)
}

fn seal_cmd(key: &std::path::Path, backup_dir: &std::path::Path) -> Result<u8, Error> {
    let key = seal::signing_key(key)?;
    let set = BackupSet::open(backup_dir)?;
    let (bytes, v) = verify::verify_all_records(&set)?;
    let print = seal::seal(&set, &bytes, &key)?;
    println!(
        "{}: {} files, {} verified; sealed with {print}",
        backup_dir.display(),
        v.files,
        host::progress::human(v.bytes)
    );
    Ok(0)
}

/// Plugins read from the files alone: verifying a set runs no plugin code.
fn plugins_in(dir: &std::path::Path) -> Result<Vec<verify::PluginFile>, Error> {
    use sha2::Digest;
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "wasm") {
            let bytes = host::plugin::read(&path)?;
            let m = inspect::examine(&path, &bytes)?.manifest;
            if m.has_hook(Hook::Restore) || !m.artifacts.is_empty() {
                out.push(verify::PluginFile {
                    manifest: m,
                    file: entry.file_name().to_string_lossy().into_owned(),
                    sha256: hex::encode(sha2::Sha256::digest(&bytes)),
                });
            }
        }
    }
    Ok(out)
}
