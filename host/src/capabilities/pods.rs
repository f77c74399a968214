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
use super::quota::QuotaWriter;
use super::tree_copy;
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
    /// argv[0] of what may run; `None`: anything.
    commands: Option<Vec<String>>,
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
                    commands: g.commands().map(<[String]>::to_vec),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Grant { rules })
    }

    /// Whether the plugin may exec anywhere at all (else no pod is even looked up).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
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

    /// The container `program` runs in, if the pod's labels match a rule that allows the
    /// program. A pod that does not exist is refused in the same words as one whose labels
    /// do not match, and neither denial shows the pod's labels: a plugin learns nothing
    /// about pods outside its grant.
    fn resolve(
        &self,
        call: &str,
        pod: &str,
        program: &str,
        facts: Option<&PodFacts>,
    ) -> Result<PodPermit> {
        let Some((rule, facts)) = facts.and_then(|f| {
            self.rules
                .iter()
                .find(|r| r.selector.matches(&f.labels))
                .map(|r| (r, f))
        }) else {
            return Err(Error::Denied(format!(
                "{call} in pod `{pod}`: no pod of that name matches an exec capability; {}",
                self.summary()
            )));
        };
        // argv[0] exactly as listed: the list narrows what a plugin runs, it does not
        // sandbox it. A listed `bash` (or any interpreter) runs whatever `-c` says, and
        // every command has the container's environment, token and network; `host
        // inspect` says as much.
        if let Some(commands) = &rule.commands
            && !commands.iter().any(|c| c == program)
        {
            return Err(Error::Denied(format!(
                "{call} in pod `{pod}`: `{}` is not among the commands the exec grant for {} allows ({})",
                clip(program),
                rule.selector,
                commands.join(", ")
            )));
        }
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

/// What an exec grant gives, in words: a command in a container runs with all the
/// container has, whatever the command.
const POWER: &str = "its environment and secrets, its service-account token, its network";

/// Programs that run whatever they are given (`bash -c`, `python -c`): a command list
/// with one of them narrows nothing.
const RUNS_ANYTHING: &[&str] = &[
    "sh", "bash", "dash", "ash", "ksh", "zsh", "busybox", "env", "xargs", "nsenter", "python",
    "python3", "perl", "ruby", "node", "rake", "bundle", "psql", "mysql",
];

/// `host inspect`'s words for the exec grant: where, in which container, which commands,
/// and what that means.
pub fn describe(manifest: &Manifest) -> Vec<String> {
    let mut out = Vec::new();
    for g in &manifest.capabilities.exec {
        let container = match g.container() {
            Some(c) => format!("container {c}"),
            None => "the pod's default container".to_string(),
        };
        let copies = g.commands().is_none_or(|c| c.iter().any(|c| c == COPY));
        out.push(format!(
            "exec commands{} in pods matching {} ({container})",
            if copies { " and copy files" } else { "" },
            g.selector()
        ));
        out.push(match g.commands() {
            None => format!("  any command: full control of the container ({POWER})"),
            Some(list) => {
                let base = |c: &String| c.rsplit('/').next().unwrap_or(c).to_string();
                let open: Vec<String> = list
                    .iter()
                    .map(base)
                    .filter(|b| RUNS_ANYTHING.contains(&b.as_str()))
                    .collect();
                let reach = if open.is_empty() {
                    format!("each runs with all the container has: {POWER}")
                } else {
                    format!(
                        "{} runs any command, so this is full control of the container: {POWER}",
                        open.join(" and ")
                    )
                };
                format!("  only these commands: {} ({reach})", list.join(", "))
            }
        });
    }
    out
}

/// The API requests an exec grant makes: the pod list `find-pod` asks with its selector,
/// the pod read before each check (its labels and containers), and the exec itself.
/// RBAC cannot narrow pods by label, nor pod names the ReplicaSets make up, so the Role
/// allows every pod of the namespace; the grant's selector and commands stay the host's
/// check. Exec over WebSocket is a GET that the API server authorizes as `get` on
/// `pods/exec` and, since Kubernetes 1.35 (kubernetes#134577, a beta gate on by
/// default), also as `create`; over SPDY it is a POST, `create`. Both verbs, so the Role
/// holds on either side of that change.
pub fn rbac(manifest: &Manifest) -> Vec<crate::cluster::rbac::Rule> {
    use crate::cluster::rbac::Rule;
    if manifest.capabilities.exec.is_empty() {
        return Vec::new();
    }
    vec![
        Rule::new("", "pods", &["get", "list"], None),
        Rule::new("", "pods/exec", &["create", "get"], None),
    ]
}

/// What copying files runs in the pod, and so what a command list must name to allow it.
const COPY: &str = "tar";

/// A plugin's string in a denial: a line's worth of it.
fn clip(s: &str) -> String {
    const SHOWN: usize = 100;
    if s.chars().count() <= SHOWN {
        return s.to_string();
    }
    let head: String = s.chars().take(SHOWN).collect();
    format!("{head}… ({} bytes)", s.len())
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
    /// argv[0], what a command list is checked against; `tar` for copies.
    program: String,
    detail: String,
    artifact: Option<(String, Access)>,
}

impl InPod {
    /// A command the plugin names.
    fn command(call: &'static str, pod: &str, argv: &[String], detail: String) -> InPod {
        InPod {
            call,
            pod: pod.to_string(),
            program: argv.first().cloned().unwrap_or_default(),
            detail,
            artifact: None,
        }
    }

    /// A copy, which runs tar in the pod.
    fn copy(call: &'static str, pod: &str, detail: String) -> InPod {
        InPod {
            call,
            pod: pod.to_string(),
            program: COPY.to_string(),
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
        if self.program.is_empty() {
            return Err(Error::Invalid(format!("{}: an empty command", self.call)));
        }
        let permit = grant
            .pods
            .resolve(self.call, &self.pod, &self.program, facts)?;
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
        let call = InPod::command("exec", &pod, &argv, command(&argv));
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
        let call = InPod::command(
            "exec-to-artifact",
            &pod,
            &argv,
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
        let call = InPod::command(
            "artifact-to-exec",
            &pod,
            &argv,
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
        let call = InPod::copy("copy-from-pod", &pod, format!("{path} > {artifact}"))
            .with_artifact(&artifact, Access::Write);
        self.guarded(call, async move |permit, ctx| {
            let (dir, base) = pod_path(&path)?;
            if let Some(previous) = ctx.run.previous.clone()
                && ctx.grant.artifacts.is_tree(&artifact)
            {
                return tree_copy::incremental(
                    ctx, &permit, &path, &dir, &base, &artifact, previous,
                )
                .await;
            }
            tree_copy::whole(ctx, &permit, &path, &dir, &base, &artifact).await
        })
        .await
    }

    async fn copy_to_pod(
        &mut self,
        artifact: String,
        pod: String,
        path: String,
    ) -> std::result::Result<u64, HostError> {
        let call = InPod::copy("copy-to-pod", &pod, format!("{artifact} > {path}"))
            .with_artifact(&artifact, Access::Read);
        self.guarded(call, async move |permit, ctx| {
            let (parent, base) = pod_path(&path)?;
            let store: Arc<_> = ctx.artifacts.clone();
            if store.is_dir(&artifact)? {
                return tree_copy::into_pod(ctx, &permit, &artifact, &path).await;
            }
            let transfer = std::sync::Mutex::new(ctx.run.progress.transfer(
                ctx.transfer_label(&format!("{artifact} -> {}:{path}", permit.pod())),
                None,
            ));
            ctx.run
                .cluster
                .tar_into_pod(&permit, &parent, move |writer| {
                    let r = tar_stream::build_file(writer, &store, &artifact, &base, &transfer);
                    let transfer = transfer.into_inner().unwrap_or_else(|p| p.into_inner());
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
    let writer = QuotaWriter::new(ctx.artifacts.create(artifact)?, ctx.run.quota.clone());
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
                    Ok(()) => encoder
                        .into_inner()
                        .into_inner()
                        .finish()
                        .await
                        .map(|d| d.size),
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
                Ok(_) => writer.into_inner().finish().await.map(|d| d.size),
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
    let file = ctx.artifacts.open(artifact).await?;
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

    fn cmd(call: &'static str, pod: &str, program: &str) -> InPod {
        InPod::command(call, pod, &[program.to_string()], program.to_string())
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
        let exec = cmd("exec", "zync-database-1", "psql");
        let permit = exec
            .check(&g, Some(&pod("zync-database", &["postgresql"])))
            .unwrap();
        assert_eq!(
            permit,
            PodPermit::issue("zync-database-1", Some("postgresql"))
        );
        let other = cmd("exec", "system-mysql-1", "mysql");
        let m = denial(other.check(&g, Some(&pod("system-mysql", &["system-mysql"]))));
        assert!(
            m.contains("system-mysql-1") && m.contains("exec capability"),
            "{m}"
        );
        let copy = InPod::copy("copy-to-pod", "p", "x".into())
            .with_artifact("zync-database-backup.gz", Access::Read);
        denial(copy.check(&g, Some(&pod("system-mysql", &["system-mysql"]))));
        denial(exec.check(&g, None));
    }

    #[test]
    fn a_denial_shows_neither_the_pods_labels_nor_whether_it_exists() {
        let g = grant(Hook::Restore);
        let mut secret = pod("system-mysql", &["system-mysql"]);
        secret
            .labels
            .insert("team".into(), "payments-secret-project".into());
        let elsewhere = denial(cmd("exec", "p", "mysql").check(&g, Some(&secret)));
        let missing = denial(cmd("exec", "p", "mysql").check(&g, None));
        assert_eq!(elsewhere, missing);
        assert!(
            !elsewhere.contains("payments") && !elsewhere.contains("system-mysql"),
            "{elsewhere}"
        );
    }

    #[test]
    fn a_command_list_narrows_what_runs() {
        let g = grant(Hook::Backup);
        let app = pod("system-app", &["system-master"]);
        cmd("exec", "system-app-1", "ls")
            .check(&g, Some(&app))
            .unwrap();
        let m = denial(cmd("exec", "system-app-1", "bash").check(&g, Some(&app)));
        assert!(
            m.contains("`bash` is not among the commands") && m.contains("ls, tar"),
            "{m}"
        );
        denial(cmd("exec", "system-app-1", "/bin/ls").check(&g, Some(&app)));
        InPod::copy("copy-from-pod", "system-app-1", "x".into())
            .with_artifact("system", Access::Write)
            .check(&g, Some(&app))
            .unwrap();
        // No list: anything, copies included.
        let db = pod("zync-database", &["postgresql"]);
        cmd("exec", "z", "bash").check(&g, Some(&db)).unwrap();
        let empty = InPod::command("exec", "z", &[], String::new());
        assert!(matches!(empty.check(&g, Some(&db)), Err(Error::Invalid(_))));
    }

    #[test]
    fn inspect_says_what_an_exec_grant_is() {
        let m = Manifest::parse(&super::super::testing::MANIFEST.replace(
            "container = \"system-master\", commands = [\"ls\", \"tar\"]",
            "container = \"system-master\", commands = [\"redis-cli\"]",
        ))
        .unwrap();
        let words = describe(&m).join("\n");
        assert!(
            words.contains(
                "exec commands and copy files in pods matching deployment=zync-database (the pod's default container)\n  any command: full control of the container (its environment and secrets, its service-account token, its network)"
            ),
            "{words}"
        );
        assert!(
            words.contains("exec commands in pods matching deployment=system-app (container system-master)\n  only these commands: redis-cli (each runs with all the container has: its environment and secrets"),
            "{words}"
        );
        let m = Manifest::parse(&super::super::testing::MANIFEST.replace(
            "commands = [\"ls\", \"tar\"]",
            "commands = [\"/bin/bash\", \"tar\"]",
        ))
        .unwrap();
        let words = describe(&m).join("\n");
        assert!(
            words.contains("only these commands: /bin/bash, tar (bash runs any command, so this is full control of the container: its environment"),
            "{words}"
        );
    }

    #[test]
    fn the_container_is_the_grants_or_the_pods_default() {
        let g = grant(Hook::Backup);
        let three = ["system-developer", "system-master", "system-provider"];
        let exec = cmd("exec", "system-app-1", "ls");
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
        let permit = cmd("exec", "z", "psql")
            .check(&g, Some(&annotated))
            .unwrap();
        assert_eq!(permit.container(), Some("postgresql"));
    }

    #[test]
    fn streams_check_the_artifact_too() {
        let g = grant(Hook::Restore);
        let db = pod("zync-database", &["postgresql"]);
        let write = cmd("exec-to-artifact", "z", "pg_dump")
            .with_artifact("zync-database-backup.gz", Access::Write);
        assert!(denial(write.check(&g, Some(&db))).contains("read-only"));
        let g = grant(Hook::Backup);
        write.check(&g, Some(&db)).unwrap();
        let undeclared =
            cmd("exec-to-artifact", "z", "pg_dump").with_artifact("other.gz", Access::Write);
        denial(undeclared.check(&g, Some(&db)));
    }
}
