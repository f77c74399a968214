//! The `exec` capability and `host:plugin/pods`: commands and files in pods whose labels
//! match a granted selector, in the grant's container (or the pod's default one, as
//! kubectl picks it). Streaming calls move bytes between a pod and an artifact without
//! the plugin seeing them.

use std::pin::Pin;
use std::sync::Arc;

use async_compression::Level;
use async_compression::tokio::bufread::GzipDecoder;
use async_compression::tokio::write::GzipEncoder;
use contract::Manifest;
use contract::selector::Selector;

use tokio::io::{AsyncRead, AsyncWriteExt, BufReader};

use super::artifacts::Access;
use super::bindings::host::plugin::pods::{self, ExecOutput};
use super::bindings::host::plugin::types::Compression;
use super::{Call, CallCtx, Grant as FullGrant, HostError, HostState};
use crate::backup_set::tar_stream;
use crate::cluster::{ExecResult, PodFacts, PodPermit, PodSearchPermit, pod_path};
use crate::dump_guard::{Guard, GuardedRead};
use crate::error::{Error, Result};

/// Level 2 (zlib-rs): dumps are large and the link to the pod is fast. On a 200 MB SQL
/// dump it gives 60.6 MiB against 81.6 MiB at level 1, in about the same wall time; GNU
/// gzip at the manual's default (6) took 9 s on that dump where level 1 took 2.5 s.
const GZIP_LEVEL: i32 = 2;

/// The pods a plugin may run commands in.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    selector: Selector,
    container: Option<String>,
}

impl Grant {
    pub fn new(manifest: &Manifest) -> Result<Grant> {
        let rules = manifest
            .capabilities
            .exec
            .iter()
            .map(|g| {
                Ok(Rule {
                    selector: Selector::parse(g.selector()).map_err(|e| {
                        Error::Invalid(format!("exec selector `{}`: {e}", g.selector()))
                    })?,
                    container: g.container().map(str::to_string),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Grant { rules })
    }

    fn summary(&self) -> String {
        if self.rules.is_empty() {
            "the plugin may exec in no pod".to_string()
        } else {
            let s: Vec<String> = self.rules.iter().map(|r| r.selector.to_string()).collect();
            format!(
                "the plugin may exec only in pods matching {}",
                s.join(" or ")
            )
        }
    }

    /// The container a command runs in, if the pod's labels match a rule.
    fn resolve(&self, call: &str, pod: &str, facts: &PodFacts) -> Result<PodPermit> {
        let Some(rule) = self
            .rules
            .iter()
            .find(|r| r.selector.matches(&facts.labels))
        else {
            let shown: Vec<String> = facts
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            return Err(Error::Denied(format!(
                "{call} in pod `{pod}` ({}) needs an exec capability matching its labels; {}",
                shown.join(","),
                self.summary()
            )));
        };
        let container = match &rule.container {
            Some(c) if facts.containers.iter().any(|x| x == c) => Some(c.as_str()),
            Some(c) => {
                return Err(Error::Denied(format!(
                    "{call} in pod `{pod}`: the exec grant for {} names container `{c}`, and the pod has {}",
                    rule.selector,
                    facts.containers.join(", ")
                )));
            }
            None => facts.kubectl_default(),
        };
        Ok(PodPermit::issue(pod, container))
    }
}

/// `host inspect`'s words for the exec grant.
pub fn describe(manifest: &Manifest) -> Vec<String> {
    manifest
        .capabilities
        .exec
        .iter()
        .map(|g| {
            let container = match g.container() {
                Some(c) => format!("container {c}"),
                None => "the pod's default container".to_string(),
            };
            format!(
                "exec commands and copy files in pods matching {} ({container})",
                g.selector()
            )
        })
        .collect()
}

/// `find-pod`: only with exactly a granted selector.
pub struct FindPod {
    pub selector: String,
}

impl Call for FindPod {
    type Permit = PodSearchPermit;

    fn audit(&self) -> (&'static str, String) {
        ("find-pod", self.selector.clone())
    }

    fn check(&self, grant: &FullGrant, _: Option<&PodFacts>) -> Result<PodSearchPermit> {
        let wanted = Selector::parse(&self.selector)
            .map_err(|e| Error::Invalid(format!("selector `{}`: {e}", self.selector)))?;
        if grant.pods.rules.iter().any(|r| r.selector == wanted) {
            Ok(PodSearchPermit::issue(&self.selector))
        } else {
            Err(Error::Denied(format!(
                "find-pod `{}` needs an exec capability for exactly that selector; {}",
                self.selector,
                grant.pods.summary()
            )))
        }
    }
}

/// A call that runs something in a pod, possibly with an artifact on the other end.
pub struct InPod {
    call: &'static str,
    pod: String,
    detail: String,
    artifact: Option<(String, Access)>,
}

impl InPod {
    fn new(call: &'static str, pod: &str, detail: String) -> InPod {
        InPod {
            call,
            pod: pod.to_string(),
            detail,
            artifact: None,
        }
    }

    fn with_artifact(mut self, path: &str, access: Access) -> InPod {
        self.artifact = Some((path.to_string(), access));
        self
    }
}

impl Call for InPod {
    type Permit = PodPermit;

    fn audit(&self) -> (&'static str, String) {
        (self.call, format!("{}: {}", self.pod, self.detail))
    }

    fn pod(&self) -> Option<&str> {
        Some(&self.pod)
    }

    fn check(&self, grant: &FullGrant, facts: Option<&PodFacts>) -> Result<PodPermit> {
        let facts = facts
            .ok_or_else(|| Error::Denied(format!("pod `{}`: its labels are unknown", self.pod)))?;
        let permit = grant.pods.resolve(self.call, &self.pod, facts)?;
        if let Some((path, access)) = &self.artifact {
            grant.artifacts.check(path, *access)?;
        }
        Ok(permit)
    }

    fn note(permit: &PodPermit) -> Option<String> {
        permit.container().map(|c| format!("container {c}"))
    }
}

fn output(r: ExecResult) -> ExecOutput {
    ExecOutput {
        stdout: r.stdout,
        stderr: r.stderr,
        exit_code: r.exit_code,
        truncated: r.truncated,
    }
}

fn command(argv: &[String]) -> String {
    argv.join(" ")
}

impl pods::Host for HostState {
    async fn find_pod(&mut self, selector: String) -> std::result::Result<String, HostError> {
        self.guarded(FindPod { selector }, async |permit, ctx| {
            ctx.run.cluster.find_pod(&permit).await
        })
        .await
    }

    async fn exec(
        &mut self,
        pod: String,
        argv: Vec<String>,
        stdin: Option<Vec<u8>>,
    ) -> std::result::Result<ExecOutput, HostError> {
        let call = InPod::new("exec", &pod, command(&argv));
        self.guarded(call, async move |permit, ctx| {
            ctx.run
                .cluster
                .exec(&permit, &argv, stdin)
                .await
                .map(output)
        })
        .await
    }

    async fn exec_to_artifact(
        &mut self,
        pod: String,
        argv: Vec<String>,
        artifact: String,
        compression: Compression,
    ) -> std::result::Result<u64, HostError> {
        let call = InPod::new(
            "exec-to-artifact",
            &pod,
            format!("{} > {artifact}", command(&argv)),
        )
        .with_artifact(&artifact, Access::Write);
        self.guarded(call, async move |permit, ctx| {
            stream_out(ctx, &permit, &argv, &artifact, compression).await
        })
        .await
    }

    async fn artifact_to_exec(
        &mut self,
        artifact: String,
        pod: String,
        argv: Vec<String>,
        decompression: Compression,
    ) -> std::result::Result<ExecOutput, HostError> {
        let call = InPod::new(
            "artifact-to-exec",
            &pod,
            format!("{} < {artifact}", command(&argv)),
        )
        .with_artifact(&artifact, Access::Read);
        self.guarded(call, async move |permit, ctx| {
            stream_in(ctx, &permit, &artifact, &argv, decompression)
                .await
                .map(output)
        })
        .await
    }

    async fn copy_from_pod(
        &mut self,
        pod: String,
        path: String,
        artifact: String,
    ) -> std::result::Result<u64, HostError> {
        let call = InPod::new("copy-from-pod", &pod, format!("{path} > {artifact}"))
            .with_artifact(&artifact, Access::Write);
        self.guarded(call, async move |permit, ctx| {
            let (dir, base) = pod_path(&path)?;
            let store = ctx.artifacts.clone();
            let mut transfer = ctx.run.progress.transfer(
                ctx.transfer_label(&format!("{artifact} <- {}:{path}", permit.pod())),
                None,
            );
            let pod = permit.pod().to_string();
            let base_owned = base.clone();
            ctx.run
                .cluster
                .tar_from_pod(&permit, &dir, &base, move |reader| {
                    let r = tar_stream::extract(
                        reader,
                        &base_owned,
                        &store,
                        &artifact,
                        &pod,
                        &mut transfer,
                    );
                    transfer.finish(r.is_ok());
                    r
                })
                .await
        })
        .await
    }

    async fn copy_to_pod(
        &mut self,
        artifact: String,
        pod: String,
        path: String,
    ) -> std::result::Result<u64, HostError> {
        let call = InPod::new("copy-to-pod", &pod, format!("{artifact} > {path}"))
            .with_artifact(&artifact, Access::Read);
        self.guarded(call, async move |permit, ctx| {
            let (parent, base) = pod_path(&path)?;
            let store: Arc<_> = ctx.artifacts.clone();
            let is_dir = store.is_dir(&artifact)?;
            let target = if is_dir { path.clone() } else { parent };
            let mut transfer = ctx.run.progress.transfer(
                ctx.transfer_label(&format!("{artifact} -> {}:{path}", permit.pod())),
                None,
            );
            ctx.run
                .cluster
                .tar_into_pod(&permit, &target, move |writer| {
                    let name = (!is_dir).then_some(base.as_str());
                    let r = tar_stream::build(writer, &store, &artifact, name, &mut transfer);
                    transfer.finish(r.is_ok());
                    r
                })
                .await
        })
        .await
    }
}

/// A command's stdout into an artifact, through gzip if asked; the artifact appears only
/// if every byte arrived and the command exited 0.
async fn stream_out(
    ctx: &CallCtx,
    permit: &PodPermit,
    argv: &[String],
    artifact: &str,
    compression: Compression,
) -> Result<u64> {
    let writer = ctx.artifacts.create(artifact)?;
    let mut transfer = ctx.run.progress.transfer(
        ctx.transfer_label(&format!("{artifact} <- {}", permit.pod())),
        None,
    );
    let cluster = &ctx.run.cluster;
    let result = match compression {
        Compression::Gzip => {
            let mut encoder = GzipEncoder::with_quality(writer, Level::Precise(GZIP_LEVEL));
            match cluster
                .exec_to_writer(permit, argv, &mut encoder, &mut transfer)
                .await
            {
                Ok(_) => match encoder.shutdown().await {
                    Ok(()) => encoder.into_inner().finish().await.map(|d| d.size),
                    Err(e) => Err(Error::io(ctx.artifacts.location(artifact), e)),
                },
                Err(e) => Err(e),
            }
        }
        Compression::None => {
            let mut writer = writer;
            match cluster
                .exec_to_writer(permit, argv, &mut writer, &mut transfer)
                .await
            {
                Ok(_) => writer.finish().await.map(|d| d.size),
                Err(e) => Err(e),
            }
        }
    };
    transfer.finish(result.is_ok());
    result
}

/// An artifact into a command's stdin, through gunzip if asked, and through the dump
/// guard if the manifest says a database client reads it (see `dump_guard`).
async fn stream_in(
    ctx: &CallCtx,
    permit: &PodPermit,
    artifact: &str,
    argv: &[String],
    decompression: Compression,
) -> Result<ExecResult> {
    let file = ctx.artifacts.open(artifact)?;
    let reader = BufReader::with_capacity(64 * 1024, file);
    let mut transfer = ctx.run.progress.transfer(
        ctx.transfer_label(&format!("{artifact} -> {}", permit.pod())),
        None,
    );
    let cluster = &ctx.run.cluster;
    let guard = ctx.grant.artifacts.content(artifact).map(Guard::new);
    let mut source: Pin<Box<dyn AsyncRead + Send + '_>> = match decompression {
        Compression::Gzip => {
            let mut decoder = GzipDecoder::new(reader);
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
        Compression::None => Box::pin(reader),
    };
    if let Some(guard) = guard {
        source = Box::pin(GuardedRead::new(source, guard));
    }
    let result = cluster
        .reader_to_exec(&mut source, permit, argv, &mut transfer)
        .await;
    transfer.finish(result.is_ok());
    result.map_err(|e| match e {
        Error::Invalid(m) => Error::Invalid(format!("artifact `{artifact}`: {m}")),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use contract::Hook;

    use super::super::testing::{denial, grant};
    use super::*;

    fn pod(deployment: &str, containers: &[&str]) -> PodFacts {
        PodFacts {
            labels: BTreeMap::from([
                ("deployment".to_string(), deployment.to_string()),
                ("app".to_string(), "3scale-api-management".to_string()),
            ]),
            containers: containers.iter().map(|c| c.to_string()).collect(),
            default_container: None,
        }
    }

    #[test]
    fn find_pod_only_with_a_granted_selector() {
        let g = grant(Hook::Backup);
        let find = |s: &str| FindPod { selector: s.into() }.check(&g, None);
        find("deployment=zync-database").unwrap();
        find("deployment = zync-database").unwrap();
        let m = denial(find("deployment=system-mysql"));
        assert!(
            m.contains("deployment=zync-database"),
            "names what is granted: {m}"
        );
        denial(find("app=3scale-api-management"));
    }

    #[test]
    fn exec_only_in_pods_whose_labels_match() {
        let g = grant(Hook::Restore);
        let exec = InPod::new("exec", "zync-database-1", "psql".into());
        let permit = exec
            .check(&g, Some(&pod("zync-database", &["postgresql"])))
            .unwrap();
        assert_eq!(
            permit,
            PodPermit::issue("zync-database-1", Some("postgresql"))
        );
        let other = InPod::new("exec", "system-mysql-1", "mysql".into());
        let m = denial(other.check(&g, Some(&pod("system-mysql", &["system-mysql"]))));
        assert!(
            m.contains("system-mysql-1") && m.contains("exec capability"),
            "{m}"
        );
        let copy = InPod::new("copy-to-pod", "p", "x".into())
            .with_artifact("zync-database-backup.gz", Access::Read);
        denial(copy.check(&g, Some(&pod("system-mysql", &["system-mysql"]))));
        denial(exec.check(&g, None));
    }

    #[test]
    fn the_container_is_the_grants_or_the_pods_default() {
        let g = grant(Hook::Backup);
        let three = ["system-developer", "system-master", "system-provider"];
        let exec = InPod::new("exec", "system-app-1", "ls".into());
        let permit = exec.check(&g, Some(&pod("system-app", &three))).unwrap();
        assert_eq!(
            permit.container(),
            Some("system-master"),
            "named by the grant, not the first"
        );
        assert_eq!(
            InPod::note(&permit).as_deref(),
            Some("container system-master")
        );
        let m = denial(exec.check(&g, Some(&pod("system-app", &["system-developer"]))));
        assert!(m.contains("names container `system-master`"), "{m}");
        let mut annotated = pod("zync-database", &["sidecar", "postgresql"]);
        annotated.default_container = Some("postgresql".into());
        let permit = InPod::new("exec", "z", "psql".into())
            .check(&g, Some(&annotated))
            .unwrap();
        assert_eq!(permit.container(), Some("postgresql"));
    }

    #[test]
    fn streams_check_the_artifact_too() {
        let g = grant(Hook::Restore);
        let db = pod("zync-database", &["postgresql"]);
        let write = InPod::new("exec-to-artifact", "z", "pg_dump".into())
            .with_artifact("zync-database-backup.gz", Access::Write);
        assert!(denial(write.check(&g, Some(&db))).contains("read-only"));
        let g = grant(Hook::Backup);
        write.check(&g, Some(&db)).unwrap();
        let undeclared = InPod::new("exec-to-artifact", "z", "pg_dump".into())
            .with_artifact("other.gz", Access::Write);
        denial(undeclared.check(&g, Some(&db)));
    }
}
