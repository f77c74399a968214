//! `sim`: a Kubernetes API simulator with a live 3scale 2.15 (or 2.14) namespace.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use sim::faults::FaultSettings;
use sim::protocols::ExecProtocols;
use sim::release::Release;
use sim::{ClusterOptions, SimConfig, Simulator, client};

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "A Kubernetes API simulator whose 3scale 2.15 (or 2.14) pods are real MariaDB, PostgreSQL and Redis processes",
    long_about = "A Kubernetes API simulator with a live 3scale 2.15 namespace (`3scale`), or 3scale 2.14 on \
OpenShift DeploymentConfigs with `serve --threescale 2.14`. The real kubectl and \
kube-rs talk to it over HTTP and WebSocket; its pods are real MariaDB, PostgreSQL and Redis servers from \
Debian's packages, each in its own mount, network, UTS and PID namespaces (run as root).\n\n\
Start it with `sim serve --dir DIR`, then use DIR/kubeconfig:\n  \
KUBECONFIG=DIR/kubeconfig kubectl get pods\n\n\
The other subcommands talk to a running `sim serve` with the same --dir."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the simulator in the foreground until SIGINT/SIGTERM.
    ///
    /// Writes DIR/kubeconfig (context `sim`, namespace `3scale`), prints one line
    /// `ready kubeconfig=DIR/kubeconfig server=URL` once every pod runs, and on SIGINT or
    /// SIGTERM stops every pod cleanly. Claims' volumes and API objects persist in DIR.
    Serve {
        /// Data directory (volumes, API objects, kubeconfig).
        #[arg(long)]
        dir: PathBuf,
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Fault injection, NAME=VALUE, repeatable:
        /// exec-drop-after=SIZE (cut exec streams after SIZE of stdout, no status),
        /// exec-drop-stdin-after=SIZE (the same after SIZE of stdin),
        /// error-rate=0.0-1.0 and error-code=500|429 (answer a share of API requests with an error),
        /// latency-ms=N (delay every API request),
        /// kill-pod-on-exec=TEXT (SIGKILL a pod's processes when an exec whose command contains TEXT starts, once),
        /// exec-missing=PROGRAM (an exec of PROGRAM fails to start, as in an image without it).
        #[arg(long = "fault", value_name = "NAME=VALUE")]
        faults: Vec<String>,
        /// Exec streaming protocols offered over WebSocket: `v5,v4` plays Kubernetes 1.32,
        /// `v4` a release before 1.30 (/version says 1.29), where a WebSocket client cannot
        /// close stdin alone. SPDY is served either way.
        #[arg(long, value_name = "LIST", default_value = "v5,v4", value_parser = parse_protocols)]
        exec_protocols: ExecProtocols,
        /// Seconds from a change the 3scale operator watches (the APIManager, a
        /// Deployment or the redis ConfigMap it owns) to its reconcile.
        #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = seconds)]
        operator_delay: f64,
        /// Seconds the system-app-pre Job's (2.14: system-app's pre hook's)
        /// `rake boot openshift:deploy` stand-in works against system-mysql.
        #[arg(long, value_name = "SECONDS", default_value_t = 5.0, value_parser = seconds)]
        deploy_job_seconds: f64,
        /// The job controller's back-off after a failed Job pod, doubled per failure (2.14:
        /// also the kubelet's before a failed Retry hook container runs again).
        #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = seconds)]
        job_backoff_seconds: f64,
        /// Start a new data directory with only the operator: no APIManager, no 3scale
        /// objects, no pods. Applying an APIManager installs 3scale (manual 9.5.1).
        #[arg(long)]
        empty: bool,
        /// The 3scale release the namespace runs: 2.15 (Deployments, the default for a new
        /// directory) or 2.14 (OpenShift DeploymentConfigs, ReplicationControllers and
        /// system-app's lifecycle hooks). A directory keeps the release it was made with.
        #[arg(long, value_name = "RELEASE", value_parser = parse_release)]
        threescale: Option<Release>,
    },
    /// Fill the namespace with 3scale-shaped data of about SIZE, deterministically.
    Seed {
        #[arg(long)]
        dir: PathBuf,
        /// e.g. 20MiB, 1GiB.
        #[arg(long, default_value = "64MiB")]
        size: String,
        /// system-storage as this many small files (100 B to 2 KiB, 500 a directory)
        /// instead of its share of SIZE: the shape of a portal with many attachments.
        #[arg(long, value_name = "N")]
        files: Option<u64>,
    },
    /// Print a digest per component (databases, redis, storage, ConfigMaps, Secrets).
    Fingerprint {
        #[arg(long)]
        dir: PathBuf,
        /// Print JSON: {"components": {NAME: {"digest", "summary"}}}.
        #[arg(long)]
        json: bool,
    },
    /// Damage every component: drop tables, flush redis, delete storage files, ConfigMaps and Secrets.
    Damage {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show or change fault injection on a running simulator (see `serve --help`).
    Fault {
        #[arg(long)]
        dir: PathBuf,
        /// Turn every fault off first.
        #[arg(long)]
        reset: bool,
        #[arg(value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
    /// Print what the 3scale tool stand-ins recorded (e.g. each rake zync:resync:domains).
    Events {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Kill a pod's processes; it restarts as Kubernetes restarts a crashed container.
    CrashPod {
        #[arg(long)]
        dir: PathBuf,
        pod: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sim=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            dir,
            port,
            faults,
            exec_protocols,
            operator_delay,
            deploy_job_seconds,
            job_backoff_seconds,
            empty,
            threescale,
        } => {
            let options = ClusterOptions {
                operator_delay: Duration::from_secs_f64(operator_delay),
                deploy_job: Duration::from_secs_f64(deploy_job_seconds),
                job_backoff: Duration::from_secs_f64(job_backoff_seconds),
                empty,
                release: Release::default(),
            };
            serve(dir, port, faults, exec_protocols, options, threescale).await
        }
        Command::Seed { dir, size, files } => {
            let body = json!({"size": size, "files": files});
            let report = client::call(&dir, "POST", "/sim/v1/seed", Some(&body)).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Fingerprint { dir, json } => {
            let report = client::call(&dir, "GET", "/sim/v1/fingerprint", None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else if let Some(components) = report["components"].as_object() {
                for (name, c) in components {
                    println!(
                        "{name:<16} {}  {}",
                        c["digest"].as_str().unwrap_or("(failed)"),
                        c["summary"].as_str().unwrap_or("")
                    );
                }
            }
            let errors: Vec<String> = report["errors"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, e)| format!("{name}: {}", e.as_str().unwrap_or_default()))
                .collect();
            if !errors.is_empty() {
                anyhow::bail!("fingerprint failed for {}", errors.join("\n"));
            }
            Ok(())
        }
        Command::Damage { dir } => {
            let report = client::call(&dir, "POST", "/sim/v1/damage", None).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Fault { dir, reset, set } => {
            let report = if reset || !set.is_empty() {
                client::call(
                    &dir,
                    "POST",
                    "/sim/v1/faults",
                    Some(&json!({"reset": reset, "set": set})),
                )
                .await?
            } else {
                client::call(&dir, "GET", "/sim/v1/faults", None).await?
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Events { dir } => {
            let report = client::call(&dir, "GET", "/sim/v1/events", None).await?;
            for line in report["events"].as_array().into_iter().flatten() {
                println!("{}", line.as_str().unwrap_or_default());
            }
            Ok(())
        }
        Command::CrashPod { dir, pod } => {
            client::call(&dir, "POST", &format!("/sim/v1/pods/{pod}/crash"), None).await?;
            println!("crashed {pod}");
            Ok(())
        }
    }
}

fn parse_release(text: &str) -> std::result::Result<Release, String> {
    Release::parse(text)
}

fn parse_protocols(text: &str) -> std::result::Result<ExecProtocols, String> {
    ExecProtocols::parse(text)
}

fn seconds(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds")),
    }
}

async fn serve(
    dir: PathBuf,
    port: u16,
    faults: Vec<String>,
    exec_protocols: ExecProtocols,
    options: ClusterOptions,
    threescale: Option<Release>,
) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        anyhow::bail!("sim serve runs pods in their own namespaces and needs root");
    }
    let mut settings = FaultSettings::default();
    for f in &faults {
        settings.set(f).map_err(anyhow::Error::msg)?;
    }
    let mut config = SimConfig::new(&dir);
    config.port = port;
    config.faults = settings;
    config.exec_protocols = exec_protocols;
    config.options = options;
    config.threescale = threescale;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let started = tokio::select! {
        s = Simulator::start(config) => s.with_context(|| format!("starting the simulator in {}", dir.display()))?,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted while starting"),
        _ = term.recv() => anyhow::bail!("terminated while starting"),
    };
    println!(
        "ready kubeconfig={} server={}",
        started.kubeconfig.display(),
        started.url()
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("sim: stopping every pod");
    started.stop().await;
    Ok(())
}
