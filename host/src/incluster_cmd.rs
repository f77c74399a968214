//! `host rbac` and `host cronjob`: what running host in the cluster takes, printed for
//! `kubectl apply -f -`. Neither needs a cluster.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use host::cluster::client::configured_namespace;
use host::error::Error;
use host::plugin::sets::{self, Layout};
use host::rbac::{self, render};

use crate::cli::{Global, Output};

fn namespace(g: &Global) -> Result<String, Error> {
    configured_namespace(&crate::cluster_options(g))
    .ok_or_else(|| {
        Error::Invalid(
            "give -n NS: the objects are namespaced, and the kubeconfig's context names no namespace"
                .into(),
        )
    })
}

/// The set directories under `dir`: itself, or each set of a directory of sets.
fn set_dirs(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    Ok(match sets::survey(dir)? {
        Layout::One => vec![dir.to_path_buf()],
        Layout::Several(several) => several.sets.into_iter().map(|s| s.dir).collect(),
    })
}

/// YAML documents, or a kubectl `List` with `-o json`.
fn print(g: &Global, header: &[String], objects: Vec<Value>) {
    match g.output {
        Output::Json => {
            let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
            println!(
                "{}",
                serde_json::to_string_pretty(&list).expect("objects serialise")
            );
        }
        Output::Text | Output::Yaml => print!("{}", render::yaml(header, &objects)),
    }
}

pub fn rbac(g: &Global, plugins: &Path, service_account: &str) -> Result<u8, Error> {
    let namespace = namespace(g)?;
    let mut manifests = Vec::new();
    let mut sources = Vec::new();
    for dir in set_dirs(plugins)? {
        // Read from the files, never run: the Role follows what the manifests declare.
        let files = host::plugin::examine_dir(&dir, contract::order::Missing::Ignore)?;
        if files.is_empty() {
            return Err(Error::bad_plugin(&dir, "holds no .wasm plugins"));
        }
        let names: Vec<&str> = files.iter().map(|f| f.manifest.name.as_str()).collect();
        sources.push(format!("  {}: {}", dir.display(), names.join(", ")));
        manifests.extend(files.into_iter().map(|f| f.manifest));
    }
    let rules = rbac::rules_for(&manifests);
    let mut header = vec![format!(
        "What host needs in namespace {namespace} to back up and restore with the plugins of"
    )];
    header.extend(sources);
    header.extend([
        "and nothing else: each rule comes from a plugin's grants (host inspect shows them) or"
            .to_string(),
        "from the host's own read of the APIManager's version. The host still checks each call"
            .to_string(),
        "against the grant (pod selectors, commands, JSON paths), which RBAC cannot express."
            .to_string(),
    ]);
    let objects = render::objects(
        &render::Names {
            namespace: &namespace,
            service_account,
        },
        &rules,
    );
    print(g, &header, objects);
    Ok(0)
}

pub struct CronJob<'a> {
    pub image: &'a str,
    pub target: Target<'a>,
    pub schedule: &'a str,
    pub service_account: &'a str,
    pub plugins: &'a Path,
    pub keep: Option<usize>,
    pub recipients: &'a [String],
}

/// Where the repository is: a claim mounted in the job's pod, or a bucket.
pub enum Target<'a> {
    Claim(&'a str),
    S3 {
        url: &'a str,
        secret: Option<&'a str>,
    },
}

/// Where a claim is mounted in the job's pod.
const MOUNT: &str = "/backups";

pub fn cronjob(g: &Global, c: &CronJob) -> Result<u8, Error> {
    let namespace = namespace(g)?;
    let plugins = c.plugins.display().to_string();
    // A key that would not encrypt fails here, not at 2 a.m.
    host::backup_set::encryption::Recipients::parse(c.recipients, &[])?;
    let repo = match &c.target {
        Target::Claim(_) => MOUNT,
        Target::S3 { url, .. } => {
            // A URL that names no bucket fails here too.
            host::backup_set::objects::check_url(url)?;
            url
        }
    };
    let mut backup = json!([
        "host",
        "backup",
        "--repo",
        repo,
        "-n",
        namespace,
        "--plugins",
        plugins,
        "-o",
        "json"
    ]);
    for key in c.recipients {
        let args = backup.as_array_mut().expect("an array");
        args.push("--recipient".into());
        args.push(key.as_str().into());
    }
    // The image may have no shell: the backup runs as an init container, and the prune
    // runs only once it succeeded. Prune never deletes the last good set.
    let prune = c.keep.map(|n| {
        json!([
            "host",
            "prune",
            "--repo",
            repo,
            "--keep",
            n.to_string(),
            "-o",
            "json"
        ])
    });
    let mut mounts = vec![json!({"name": "tmp", "mountPath": "/tmp"})];
    let mut volumes = vec![json!({"name": "tmp", "emptyDir": {}})];
    if let Target::Claim(claim) = &c.target {
        mounts.insert(0, json!({"name": "repository", "mountPath": MOUNT}));
        volumes.insert(
            0,
            json!({"name": "repository", "persistentVolumeClaim": {"claimName": claim}}),
        );
    }
    let env_from = match &c.target {
        Target::S3 {
            secret: Some(secret),
            ..
        } => json!([{"secretRef": {"name": secret}}]),
        _ => json!([]),
    };
    let container = |name: &str, command: &Value| {
        json!({
            "name": name,
            "image": c.image,
            "command": command,
            "env": [
                // Caches and state: the root filesystem is read-only.
                {"name": "HOST_CACHE_DIR", "value": "/tmp/cache"},
                {"name": "HOST_STATE_DIR", "value": "/tmp/state"},
            ],
            "envFrom": env_from,
            "volumeMounts": mounts,
            "securityContext": {
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "runAsNonRoot": true,
                "capabilities": {"drop": ["ALL"]},
            },
        })
    };
    let (init, main) = match &prune {
        Some(prune) => (
            vec![container("backup", &backup)],
            container("prune", prune),
        ),
        None => (Vec::new(), container("backup", &backup)),
    };
    let cronjob = json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "host-backup",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "host", "app.kubernetes.io/component": "backup-restore"},
        },
        "spec": {
            "schedule": c.schedule,
            // Two backups at once would race for `latest`; a missed night is not made up.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                // A failed backup never touches an earlier set; one retry is enough.
                "backoffLimit": 1,
                "template": {"spec": {
                    "serviceAccountName": c.service_account,
                    "restartPolicy": "Never",
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "initContainers": init,
                    "containers": [main],
                    "volumes": volumes,
                }},
            }},
        },
    });
    let header = vec![
        match &c.target {
            Target::Claim(claim) => format!(
                "A nightly `host backup` of namespace {namespace} into the repository on claim {claim}."
            ),
            Target::S3 { url, secret } => format!(
                "A nightly `host backup` of namespace {namespace} into the repository {url}, with {}.",
                match secret {
                    Some(s) => format!("the AWS_* keys of Secret {s} as its environment"),
                    None => "the ServiceAccount's web identity for S3".to_string(),
                }
            ),
        },
        format!(
            "It runs as ServiceAccount {}: `host rbac -n {namespace} --service-account {}` makes it.",
            c.service_account, c.service_account
        ),
    ];
    print(g, &header, vec![cronjob]);
    Ok(0)
}
