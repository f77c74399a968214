use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use contract::Hook;
use host::backup_set::encryption::{self, Identities, Keys, Recipients};
use host::backup_set::{BackupSet, SetLocation};
use host::cluster::{ClusterOptions, Timeouts};
use host::error::Error;
use host::plugin::inspect;
use host::plugin::sets::{self, Layout};
use host::plugin::signature::{self, Requirement};
use host::plugin::{oci, scaffold};
use host::report::{self as machine, Format, schema};
use host::run::{self, Kind, PluginSource, Session, Settings, report};
use host::sandbox::InstanceLimits;
use host::state::StateDir;

mod cli;
mod incluster_cmd;
mod man_cmd;
mod repo_cmd;
use cli::{
    Action, Cli, Command, EncryptArgs, Global, KeyAction, Output, PluginAction, RegistryArgs,
    RepoArg, RestoreChecks, RunArgs, SetChecks,
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
    let format = format(&cli.global);
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
            let code = exit_code(&e);
            // Errors can quote a plugin's manifest or output.
            let message = host::printable::printable(&with_causes(&e)).into_owned();
            eprintln!("error: {message}");
            if format.machine() {
                let body = schema::ErrorReport {
                    message,
                    exit_code: code,
                };
                print!("{}", machine::render(format, "Error", &body));
            }
            ExitCode::from(code)
        }
    }
}

/// The error and each cause its text does not already quote: "error sending request"
/// alone does not say that the connection was refused.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = c.source();
    }
    text
}

fn format(g: &Global) -> Format {
    match g.output {
        Output::Text => Format::Text,
        Output::Json => Format::Json,
        Output::Yaml => Format::Yaml,
    }
}

/// Prints a result: the text for people, or the document for scripts.
fn emit<T: serde::Serialize>(g: &Global, kind: &str, body: &T, text: impl FnOnce() -> String) {
    match format(g) {
        Format::Text => print!("{}", text()),
        f => print!("{}", machine::render(f, kind, body)),
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
        Error::Connect { .. } => 5,
        _ => 1,
    }
}

async fn dispatch(cli: Cli) -> Result<u8, Error> {
    let g = &cli.global;
    let state = StateDir::new(g.state_dir.clone())?;
    match cli.command {
        Command::Inspect {
            ref file,
            json,
            ref keys,
        } => inspect_cmd(g, file, json, keys),
        Command::Plugin { ref action } => plugin_cmd(action).await,
        Command::Verify {
            ref plugins,
            ref backup_dir,
            ref repo,
            ref set,
            ref checks,
            ref require_signed,
        } => {
            let (dir, _) = set_dir(backup_dir, repo, set.as_deref())?;
            verify_cmd(
                g,
                &plugins_dir(plugins)?,
                &dir,
                checks,
                require_signed.as_deref(),
            )
        }
        Command::List { ref repo } => repo_cmd::list(g, repo),
        Command::Describe {
            ref repo,
            ref backup_dir,
            ref set,
        } => repo_cmd::describe(g, repo, backup_dir, set.as_deref()),
        Command::Prune {
            ref repo,
            keep,
            keep_within,
            dry_run,
        } => repo_cmd::prune(
            g,
            repo,
            host::repository::prune::Policy {
                keep_last: keep,
                keep_within,
            },
            dry_run,
        ),
        Command::Completion { shell } => man_cmd::completion(shell),
        Command::Man { ref out } => man_cmd::man(out.as_deref()),
        Command::Rbac {
            ref plugins,
            ref service_account,
        } => incluster_cmd::rbac(g, &plugins_dir(plugins)?, service_account),
        Command::Cronjob {
            ref image,
            ref claim,
            ref repo,
            ref s3_secret,
            ref schedule,
            ref service_account,
            ref plugins,
            keep,
            ref recipients,
        } => incluster_cmd::cronjob(
            g,
            &incluster_cmd::CronJob {
                image,
                target: match (claim, repo) {
                    (Some(claim), _) => incluster_cmd::Target::Claim(claim),
                    (None, Some(url)) => incluster_cmd::Target::S3 {
                        url,
                        secret: s3_secret.as_deref(),
                    },
                    (None, None) => unreachable!("clap requires one"),
                },
                schedule,
                service_account,
                plugins,
                keep,
                recipients,
            },
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
            ref encrypt,
        } => {
            let source = PluginSource::File(plugin.clone());
            let mut s = settings(g, &state, source, run, 1, None);
            s.backup_dir = SetLocation::Dir(run.backup_dir.clone().unwrap_or_else(|| ".".into()));
            match action {
                Action::Backup => {
                    s.keys = encryption_keys(encrypt, checks.set.passphrase_file.as_deref())?;
                    recorded(g, run, "backup", backup(g, s, None)).await
                }
                Action::Restore => {
                    s.checks = restore_checks(checks)?;
                    s.keys = decryption_keys(&checks.set)?;
                    recorded(g, run, "restore", restore(g, s)).await
                }
            }
        }
        Command::Backup {
            ref plugins,
            ref run,
            ref repo,
            parallel,
            ref sign_key,
            ref encrypt,
            ref passphrase_file,
            no_incremental,
        } => {
            let mut s = settings(
                g,
                &state,
                PluginSource::Dir(plugins_dir(plugins)?),
                run,
                parallel.n.into(),
                None,
            );
            // Read before the backup: a key that cannot seal or encrypt is found before
            // any work.
            s.sign_key = sign_key.as_deref().map(seal::signing_key).transpose()?;
            s.keys = encryption_keys(encrypt, passphrase_file.as_deref())?;
            s.incremental = !no_incremental;
            let repo = match &repo.repo {
                Some(r) => Some(host::repository::open(r, true)?),
                None => None,
            };
            recorded(g, run, "backup", backup(g, s, repo.as_deref())).await
        }
        Command::Restore {
            ref plugins,
            ref run,
            ref repo,
            ref set,
            plan,
            parallel,
            ref checks,
        } => {
            let (dir, from) = set_dir(&run.backup_dir, repo, set.as_deref())?;
            if plan {
                return plan_cmd(g, &state, plugins, &dir, run, checks).await;
            }
            if let Some(line) = from
                && !g.quiet
            {
                eprintln!("{line}");
            }
            let mut s = settings(
                g,
                &state,
                PluginSource::Dir(plugins_dir(plugins)?),
                run,
                parallel.n.into(),
                None,
            );
            s.backup_dir = dir;
            s.checks = restore_checks(checks)?;
            s.keys = decryption_keys(&checks.set)?;
            recorded(g, run, "restore", restore(g, s)).await
        }
        Command::Resume {
            ref plugins,
            ref run,
            ref args,
        } => {
            let mut s = settings(
                g,
                &state,
                PluginSource::Dir(plugins_dir(plugins)?),
                args,
                1,
                Some(run.clone()),
            );
            // The set the run restored from, unless told: resume reads no artifact, but
            // a run of earlier hosts is found only in its set.
            s.backup_dir = match &args.backup_dir {
                Some(d) => SetLocation::Dir(d.clone()),
                None => SetLocation::Dir(
                    host::state::runs::check_id(run)
                        .ok()
                        .and_then(|()| {
                            host::state::runs::RunDir::in_state(&state.runs(), run)
                                .record()
                                .ok()
                                .flatten()
                        })
                        .map(|r| r.set)
                        .filter(|p| p.is_dir())
                        .unwrap_or_else(|| ".".into()),
                ),
            };
            let set = s.backup_dir.clone();
            let work = async {
                let session = Arc::new(Session::open(s, Kind::Resume).await?);
                let run_state = session.run.path().to_path_buf();
                let r = run::restore::resume(session).await?;
                emit(
                    g,
                    "RestoreReport",
                    &schema::Restore::new(&r, set.shown(), run_state),
                    || report::restore(&r),
                );
                Ok(r.exit_code())
            };
            recorded(g, args, "resume", work).await
        }
    }
}

/// The set a command works on: `--backup-dir` (default the current directory), or a set
/// of `--repo` (default its latest good one), with the line that says which.
fn set_dir(
    backup_dir: &Option<PathBuf>,
    repo: &RepoArg,
    set: Option<&str>,
) -> Result<(SetLocation, Option<String>), Error> {
    let Some(location) = &repo.repo else {
        return Ok((
            SetLocation::Dir(backup_dir.clone().unwrap_or_else(|| ".".into())),
            None,
        ));
    };
    let repo = host::repository::open(location, false)?;
    let entry = repo.resolve(set)?;
    if entry.state != host::repository::SetState::Good {
        return Err(Error::Refused(format!(
            "set {} of {} is {}: only a good set is restored or verified",
            entry.name,
            repo.location(),
            entry.state.word()
        )));
    }
    let line = format!(
        "set {}{} of {}",
        entry.name,
        if entry.latest { " (latest)" } else { "" },
        repo.location()
    );
    Ok((entry.location, Some(line)))
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
        contents: false,
    })
}

fn encryption_keys(e: &EncryptArgs, passphrase: Option<&std::path::Path>) -> Result<Keys, Error> {
    let mut recipients = Recipients::parse(&e.recipients, &e.recipients_files)?;
    let mut sealed_set_key = None;
    if let Some(file) = passphrase {
        let (key, sealed) = encryption::new_set_key(&encryption::Passphrase::read(file)?)?;
        recipients = Some(match recipients {
            Some(r) => r.with(key),
            None => Recipients::one(key),
        });
        sealed_set_key = Some(Arc::new(sealed));
    }
    Ok(Keys {
        recipients: recipients.map(Arc::new),
        sealed_set_key,
        ..Keys::default()
    })
}

fn decryption_keys(c: &SetChecks) -> Result<Keys, Error> {
    Ok(Keys {
        identities: Identities::load(&c.identities)?.map(Arc::new),
        passphrase: c
            .passphrase_file
            .as_deref()
            .map(encryption::Passphrase::read)
            .transpose()?
            .map(Arc::new),
        ..Keys::default()
    })
}

fn restore_checks(c: &RestoreChecks) -> Result<verify::Checks, Error> {
    let mut checks = set_checks(&c.set)?;
    checks.other_namespace = c.other_namespace;
    checks.contents = true;
    Ok(checks)
}

pub(crate) fn cluster_options(g: &Global) -> ClusterOptions {
    ClusterOptions {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
        namespace: g.namespace.clone(),
    }
}

fn settings(
    g: &Global,
    state: &StateDir,
    plugins: PluginSource,
    run: &RunArgs,
    parallel: usize,
    resume_run: Option<String>,
) -> Settings {
    Settings {
        cluster: cluster_options(g),
        backup_dir: SetLocation::Dir(run.backup_dir.clone().unwrap_or_else(|| ".".into())),
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
            memory: usize::try_from(run.plugin_memory).unwrap_or(usize::MAX),
            cpu: run.plugin_cpu,
            wall: run.hook_timeout,
            set_bytes: run.max_set_size,
            ..InstanceLimits::default()
        },
        timeouts: Timeouts {
            idle: run.idle_timeout,
            ..Timeouts::default()
        },
        resume_run,
        run_id: None,
        state: state.clone(),
        checks: verify::Checks::default(),
        sign_key: None,
        keys: Keys::default(),
        previous: None,
        incremental: true,
        require_signed: run.require_signed.clone(),
    }
}

/// Runs `work`, then records its result in `--metrics-file` if one is given, errors
/// included (a backup that could not reach the cluster is a failed backup to an alert).
async fn recorded(
    g: &Global,
    run: &RunArgs,
    kind: &str,
    work: impl std::future::Future<Output = Result<u8, Error>>,
) -> Result<u8, Error> {
    let started = std::time::Instant::now();
    let result = work.await;
    if let Some(path) = &run.metrics_file {
        let namespace = host::cluster::client::configured_namespace(&cluster_options(g))
            .unwrap_or_else(|| "default".into());
        let outcome = host::report::metrics::Outcome {
            kind,
            namespace: &namespace,
            exit_code: match &result {
                Ok(code) => *code,
                Err(e) => exit_code(e),
            },
            finished: std::time::SystemTime::now(),
            duration: started.elapsed(),
        };
        if let Err(e) = host::report::metrics::record(path, &outcome) {
            eprintln!("warning: the metrics were not recorded: {e}");
        }
    }
    result
}

async fn backup(
    g: &Global,
    s: Settings,
    repo: Option<&dyn host::repository::Repository>,
) -> Result<u8, Error> {
    let r = match repo {
        Some(repo) => run::into_repository::backup(s, repo).await?,
        None => {
            let session = Arc::new(Session::open(s, Kind::Backup).await?);
            if let Some(mode) = session.set.readable_by_others() {
                session.progress().line(&format!(
                    "warning: {} has mode {mode:o}: others can list the set (its files are yours alone); chmod 700 it",
                    session.set.path().display()
                ));
            }
            run::backup::run(session).await?
        }
    };
    let good = r.ok() && r.not_sealed.is_none() && r.repository.as_ref().is_none_or(|i| i.good);
    let code = if good { 0 } else { 1 };
    emit(g, "BackupReport", &schema::Backup::new(&r, code), || {
        report::backup(&r)
    });
    Ok(code)
}

async fn restore(g: &Global, s: Settings) -> Result<u8, Error> {
    let set = s.backup_dir.clone();
    let session = Arc::new(Session::open(s, Kind::Restore).await?);
    let run_state = session.run.path().to_path_buf();
    let r = run::restore::run(session).await?;
    emit(
        g,
        "RestoreReport",
        &schema::Restore::new(&r, set.shown(), run_state),
        || report::restore(&r),
    );
    Ok(r.exit_code())
}

async fn plan_cmd(
    g: &Global,
    state: &StateDir,
    plugins: &Option<PathBuf>,
    set: &SetLocation,
    run: &RunArgs,
    checks: &RestoreChecks,
) -> Result<u8, Error> {
    let cluster = cluster_options(g);
    let plan = run::plan::plan(run::plan::PlanInput {
        plugins: &plugins_dir(plugins)?,
        set,
        cluster: &cluster,
        checks: restore_checks(checks)?,
        force: run.force,
        state,
        keys: decryption_keys(&checks.set)?,
    })
    .await?;
    emit(g, "RestorePlan", &plan, || report::plan(&plan));
    let unreachable = plan
        .checks
        .iter()
        .any(|c| c.name == "cluster" && c.outcome == run::plan::Outcome::Refuse);
    Ok(if unreachable {
        5
    } else if plan.refused() {
        3
    } else {
        0
    })
}

fn inspect_cmd(
    g: &Global,
    file: &std::path::Path,
    json: bool,
    keys: &[PathBuf],
) -> Result<u8, Error> {
    use sha2::Digest;
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
    let body = schema::Inspection {
        file: file.to_path_buf(),
        sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        name: m.name.clone(),
        version: m.version.clone(),
        description: m.description.clone(),
        threescale: m.threescale.clone(),
        after: m.after.clone(),
        hooks: m.hooks.iter().map(|h| h.name().to_string()).collect(),
        capabilities: host::capabilities::Grant::describe(m),
        manifest: m.clone(),
        signature: signature::state(file, &bytes, &trusted),
    };
    emit(g, "PluginInspection", &body, || {
        let mut out = inspect::render(file, &examined);
        for line in signature::describe(file, &bytes, &trusted) {
            out.push_str(&host::printable::printable(&line));
            out.push('\n');
        }
        out
    });
    Ok(0)
}

/// A plugin file, or every `*.wasm` of a set directory.
fn plugin_files(path: &std::path::Path) -> Result<Vec<PathBuf>, Error> {
    if path.is_dir() {
        let files = host::plugin::wasm_files(path)?;
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
    g: &Global,
    plugins: &std::path::Path,
    location: &SetLocation,
    checks: &SetChecks,
    require_signed: Option<&std::path::Path>,
) -> Result<u8, Error> {
    let machine = format(g).machine();
    let mut plugin_set = None;
    let keys = decryption_keys(checks)?;
    let checks = set_checks(checks)?;
    let required = match require_signed {
        Some(k) => Some(Requirement {
            keys: vec![seal::trusted_key(k)?],
        }),
        None => None,
    };
    let set = BackupSet::at(location, false)?.with_keys(keys);
    let backup_dir = location.shown();
    let plugins = match sets::survey(plugins)? {
        Layout::One => plugins.to_path_buf(),
        Layout::Several(several) => {
            let made = set.manifest_head()?.and_then(|m| m.threescale_version);
            let source = format!(
                "the backup set {} was made from {}",
                backup_dir.display(),
                made.as_deref()
                    .map(|v| format!("3scale {v}"))
                    .unwrap_or_else(|| "an unrecorded 3scale version (no manifest.json)".into())
            );
            let chosen = several.choose(made.as_deref(), &source)?;
            if machine {
                eprintln!("{}", chosen.reason);
            } else {
                println!("{}", chosen.reason);
            }
            plugin_set = Some(chosen.reason);
            chosen.dir
        }
    };
    if let Some(r) = &required {
        r.check_dir(&plugins)?;
    }
    // Read from the files alone: verifying a set runs no plugin code. A directory may
    // hold a few of a set's plugins; only those with something to check count.
    let plugins: Vec<verify::PluginFile> =
        host::plugin::examine_dir(&plugins, contract::order::Missing::Ignore)?
            .into_iter()
            .filter(|p| p.manifest.has_hook(Hook::Restore) || !p.manifest.artifacts.is_empty())
            .collect();
    let v = verify::verify(&set, &plugins, &checks)?;
    let body = schema::Verify {
        result: "ok",
        set: backup_dir.clone(),
        checked: schema::Checked {
            files: v.files,
            bytes: v.bytes,
            sealed_by: v.sealed_by.clone(),
            hand_made: v.hand_made,
            decrypted: v.encrypted,
            warnings: v.warnings.clone(),
        },
        plugin_set,
    };
    emit(g, "VerifyReport", &body, || {
        let mut out = String::new();
        for w in &v.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out.push_str(&format!(
            "{}: {} files, {} verified{}{}\n",
            backup_dir.display(),
            v.files,
            host::progress::human(v.bytes),
            if v.encrypted {
                ", every file decrypted"
            } else {
                ""
            },
            match &v.sealed_by {
                Some(key) => format!(", sealed by {key}"),
                None => String::new(),
            }
        ));
        out
    });
    Ok(0)
}

fn seal_cmd(key: &std::path::Path, backup_dir: &std::path::Path) -> Result<u8, Error> {
    let key = seal::signing_key(key)?;
    let set = BackupSet::open(backup_dir)?;
    let (digest, v) = verify::verify_all_records(&set)?;
    let print = seal::seal(&set, &digest, &key)?;
    println!(
        "{}: {} files, {} verified; sealed with {print}",
        backup_dir.display(),
        v.files,
        host::progress::human(v.bytes)
    );
    Ok(0)
}
