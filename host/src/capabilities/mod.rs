//! What a plugin may do, one module per capability, and the one audited chokepoint every
//! host call passes through.
//!
//! Each module holds everything about its capability: its part of the grant (resolved
//! from the manifest), its check, its words in `host inspect`, the host side of its WIT
//! interface, and its tests. `pods` implements `host:plugin/pods`, `objects`
//! `host:plugin/objects`, and so on; a WIT function and its check are found in the
//! module named after its interface.
//!
//! Deny by default: a grant is exactly what the manifest asks for, within the namespace
//! the host targets, and it only narrows what the user's own credentials allow (the host
//! acts as the user). Every call goes through [`HostState::guarded`]: it reads what the
//! check needs (a pod's labels and containers), runs the call's check, which on success
//! issues a permit naming exactly the authorized target, hands that permit to the work,
//! and writes the call to the audit log whatever happened.

pub mod artifacts;
pub mod bindings;
pub mod journal;
pub mod log;
pub mod objects;
pub mod pods;
pub mod quota;
pub mod rollout;
mod tree_copy;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use contract::{Hook, Manifest};
use wasmtime_wasi::{WasiCtxView, WasiView};

use crate::audit::{self, Audit};
use crate::backup_set::artifacts::ArtifactStore;
use crate::cluster::{Cluster, PodFacts};
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::progress::Progress;
use crate::sandbox::{InstanceLimits, SandboxState, SandboxView};
use bindings::host::plugin::types::{self, CommandFailure};

/// What every instance of a run shares.
pub struct RunContext {
    pub cluster: Arc<Cluster>,
    pub audit: Arc<Audit>,
    pub progress: Progress,
    /// What the run's plugins may still write into the set.
    pub quota: Arc<quota::SetQuota>,
    /// For a backup into a repository: the previous good set, whose unchanged tree
    /// files are copied instead of fetched (see `backup_set/incremental.rs`).
    pub previous: Option<Arc<crate::backup_set::incremental::Previous>>,
}

/// What a plugin may do during one hook, resolved from its manifest when the instance is
/// prepared. `describe` gets [`Grant::nothing`].
#[derive(Debug, Clone)]
pub struct Grant {
    pub plugin: String,
    pub namespace: String,
    pub hook: Hook,
    pub pods: pods::Grant,
    pub objects: objects::Grant,
    pub rollout: rollout::Grant,
    pub artifacts: artifacts::Grant,
}

impl Grant {
    pub fn new(manifest: &Manifest, namespace: &str, hook: Hook) -> Result<Grant> {
        if hook == Hook::Describe {
            return Ok(Grant::nothing(&manifest.name, namespace));
        }
        Ok(Grant {
            plugin: manifest.name.clone(),
            namespace: namespace.to_string(),
            hook,
            pods: pods::Grant::new(manifest)?,
            objects: objects::Grant::new(manifest, namespace),
            rollout: rollout::Grant::new(manifest),
            artifacts: artifacts::Grant::new(manifest, hook),
        })
    }

    /// Every call denied: what `describe()` runs with.
    pub fn nothing(plugin: &str, namespace: &str) -> Grant {
        Grant {
            plugin: plugin.to_string(),
            namespace: namespace.to_string(),
            hook: Hook::Describe,
            pods: pods::Grant::default(),
            objects: objects::Grant::new(&Manifest::parse(EMPTY).expect("valid"), namespace),
            rollout: rollout::Grant::default(),
            artifacts: artifacts::Grant::default(),
        }
    }

    /// `host inspect`'s plain words for everything a manifest asks for.
    pub fn describe(manifest: &Manifest) -> Vec<String> {
        let mut out = pods::describe(manifest);
        out.extend(objects::describe(manifest));
        out.extend(rollout::describe(manifest));
        out.extend(artifacts::describe(manifest));
        out
    }
}

const EMPTY: &str =
    "name = \"nothing\"\nversion = \"0\"\nthreescale = [\"-\"]\nhooks = [\"backup\"]\n";

/// A host call as the chokepoint sees it.
pub(crate) trait Call {
    /// What a successful check hands to the work: the target it may act on.
    type Permit;
    /// `(call, target)` for the audit log and messages.
    fn audit(&self) -> (&'static str, String);
    /// The pod a call runs something in: its labels and containers are read, with the
    /// user's credentials, before the check.
    fn pod(&self) -> Option<&str> {
        None
    }
    /// Deny (`Error::Denied`, naming what would have allowed it) or refuse a malformed
    /// request (`Error::Invalid`), or issue the permit.
    fn check(&self, grant: &Grant, pod: Option<&PodFacts>) -> Result<Self::Permit>;
    /// What the permit adds to the audit line (the container a command runs in).
    fn note(_permit: &Self::Permit) -> Option<String> {
        None
    }
}

/// The error a host call returns to the generated bindings: a contract error for the
/// plugin, or a trap that ends it.
#[derive(Debug)]
pub enum HostError {
    Plugin(types::Error),
    Trap(wasmtime::Error),
}

impl From<Error> for HostError {
    fn from(e: Error) -> Self {
        HostError::Plugin(to_wit(e))
    }
}

impl From<wasmtime::Error> for HostError {
    fn from(e: wasmtime::Error) -> Self {
        HostError::Trap(e)
    }
}

/// A handle the plugin does not own (a forged or dropped resource) ends the plugin.
impl From<wasmtime::component::ResourceTableError> for HostError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        HostError::Trap(wasmtime::Error::new(e))
    }
}

/// The store's data for one plugin instance running one hook.
pub struct HostState {
    sandbox: SandboxState,
    ctx: CallCtx,
}

/// What a host call needs, detached from the store's data (which holds the WASI context
/// and cannot be shared across an await).
#[derive(Clone)]
pub struct CallCtx {
    pub run: Arc<RunContext>,
    pub grant: Arc<Grant>,
    pub artifacts: Arc<ArtifactStore>,
    pub journal: Arc<Mutex<Journal>>,
}

impl CallCtx {
    /// A progress line's label; `what` names the plugin's artifact and pod path.
    pub fn transfer_label(&self, what: &str) -> String {
        format!(
            "{} {}: {}",
            self.grant.plugin,
            self.grant.hook,
            crate::printable::printable(&crate::audit::cut(what, 200))
        )
    }

    /// Writes the call's audit line; returns its length.
    fn audit<T>(&self, call: &str, target: &str, result: &Result<T>, entered: Instant) -> u64 {
        let (decision, outcome) = match result {
            Ok(_) => (Ok(()), Ok(())),
            Err(Error::Denied(reason)) => (Err(reason.as_str()), Ok(())),
            Err(_) => (Ok(()), Err(())),
        };
        let message = result.as_ref().err().map(|e| e.to_string());
        self.run.audit.record(audit::Entry {
            plugin: &self.grant.plugin,
            hook: self.grant.hook.name(),
            call,
            target,
            decision,
            outcome: outcome.map_err(|()| message.as_deref().unwrap_or("")),
            duration: entered.elapsed(),
        })
    }

    /// A line from the host about this plugin's hook, in the audit log; returns its
    /// length.
    pub fn note(&self, message: &str) -> u64 {
        self.run
            .audit
            .note(&self.grant.plugin, self.grant.hook.name(), message)
    }
}

/// The longest message a host call returns to a plugin: a denial quotes the plugin's
/// argument, and a 64 MiB argument must not come back as a 64 MiB message (nor fill the
/// guest's memory with it).
const MESSAGE_LIMIT: usize = 4000;

fn clipped(e: Error) -> Error {
    let cut = |m: String| match audit::cut(&m, MESSAGE_LIMIT) {
        std::borrow::Cow::Borrowed(_) => m,
        std::borrow::Cow::Owned(c) => c,
    };
    match e {
        Error::Denied(m) => Error::Denied(cut(m)),
        Error::NotFound(m) => Error::NotFound(cut(m)),
        Error::Timeout(m) => Error::Timeout(cut(m)),
        Error::Invalid(m) => Error::Invalid(cut(m)),
        Error::Stream(m) => Error::Stream(cut(m)),
        Error::CommandFailed {
            argv,
            exit_code,
            stderr_tail,
        } => Error::CommandFailed {
            argv: argv.into_iter().map(cut).collect(),
            exit_code,
            stderr_tail,
        },
        other => other,
    }
}

impl HostState {
    pub fn new(
        run: Arc<RunContext>,
        grant: Grant,
        artifacts: Arc<ArtifactStore>,
        journal: Arc<Mutex<Journal>>,
        limits: InstanceLimits,
    ) -> HostState {
        HostState {
            sandbox: SandboxState::new(limits),
            ctx: CallCtx {
                run,
                grant: Arc::new(grant),
                artifacts,
                journal,
            },
        }
    }

    /// The chokepoint. Every host call that reaches the cluster or the set comes here:
    /// facts for the check, the check, the work with the permit the check issued, the
    /// audit line, and the call counted against the hook's budgets.
    ///
    /// Only the work's time is taken off the guest's CPU clock: a refused call (its
    /// check, the pod lookup for it, the copy of its arguments) is the plugin's own time,
    /// so a loop of refused calls with huge arguments runs into the CPU deadline.
    pub(crate) async fn guarded<C: Call, T>(
        &mut self,
        call: C,
        work: impl AsyncFnOnce(C::Permit, &CallCtx) -> Result<T>,
    ) -> std::result::Result<T, HostError> {
        let entered = Instant::now();
        let ctx = self.ctx.clone();
        let (name, target) = call.audit();
        // What the call names (its pod, command, path, patch body) is what the plugin
        // handed over: it counts against the hook's argument budget, cut or not.
        let handed = target.len() as u64;
        let mut target = audit::cut(&target, audit::FIELD_LIMIT).into_owned();
        let checked = async {
            if ctx.run.audit.full() {
                return Err(Error::Denied(format!(
                    "the run's audit log is full ({} MiB): no further host call may run",
                    audit::RUN_LIMIT >> 20
                )));
            }
            let facts = match call.pod() {
                // With no exec grant (describe()) the call is refused without a lookup.
                Some(_) if ctx.grant.pods.is_empty() => None,
                Some(pod) => {
                    // The name goes into the URL of the pod lookup (and of the exec).
                    contract::names::check_object_name(pod).map_err(Error::Invalid)?;
                    match ctx.run.cluster.pod_facts(pod).await {
                        Ok(facts) => Some(facts),
                        // Refused like a pod outside the grant: whether it exists is
                        // not the plugin's to learn.
                        Err(Error::NotFound(_)) => None,
                        Err(e) => return Err(e),
                    }
                }
                None => None,
            };
            call.check(&ctx.grant, facts.as_ref())
        }
        .await;
        let result = match checked {
            Ok(permit) => {
                if let Some(note) = C::note(&permit) {
                    target = format!("{target} ({note})");
                }
                let done = work(permit, &ctx).await;
                self.sandbox.leave_host(entered);
                done
            }
            Err(e) => Err(e),
        }
        .map_err(clipped);
        let bytes = ctx.audit(name, &target, &result, entered);
        self.sandbox.count_call(bytes, handed)?;
        result.map_err(HostError::from)
    }

    /// Counts a host call that is not audited (a chunk read or written, a log line)
    /// against the hook's budgets, with the audit bytes it caused.
    pub(crate) fn count(&mut self, audit_bytes: u64) -> wasmtime::Result<()> {
        self.sandbox.count_call(audit_bytes, 0)
    }

    pub fn ctx(&self) -> &CallCtx {
        &self.ctx
    }

    pub fn stderr(&self) -> Vec<u8> {
        self.sandbox.stderr()
    }
}

impl SandboxView for HostState {
    fn sandbox(&mut self) -> &mut SandboxState {
        &mut self.sandbox
    }
    fn sandbox_ref(&self) -> &SandboxState {
        &self.sandbox
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (ctx, table) = self.sandbox.wasi();
        WasiCtxView { ctx, table }
    }
}

impl types::Host for HostState {
    fn convert_error(&mut self, err: HostError) -> wasmtime::Result<types::Error> {
        match err {
            HostError::Plugin(e) => Ok(e),
            HostError::Trap(t) => Err(t),
        }
    }
}

/// What a plugin sees of a host error.
pub fn to_wit(e: Error) -> types::Error {
    match e {
        Error::Denied(m) | Error::Forbidden(m) => types::Error::Denied(m),
        Error::NotFound(m) => types::Error::NotFound(m),
        Error::Timeout(m) => types::Error::Timeout(m),
        Error::CommandFailed {
            argv,
            exit_code,
            stderr_tail,
        } => types::Error::CommandFailed(CommandFailure {
            argv,
            exit_code,
            stderr_tail,
        }),
        Error::Invalid(m) => types::Error::Invalid(m),
        other => types::Error::Failed(other.to_string()),
    }
}

/// One line for a person, from what a plugin returned.
pub fn describe_wit(e: &types::Error) -> String {
    match e {
        types::Error::Denied(m) => format!("denied: {m}"),
        types::Error::NotFound(m) => format!("not found: {m}"),
        types::Error::Timeout(m) => format!("timed out: {m}"),
        types::Error::Invalid(m) => format!("invalid: {m}"),
        types::Error::Failed(m) => m.clone(),
        types::Error::CommandFailed(f) => format!(
            "`{}` exited with {}: {}",
            f.argv.join(" "),
            f.exit_code,
            f.stderr_tail.trim()
        ),
    }
}

/// `a, b` or `none`.
fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A grant for the capability modules' tests.

    use super::*;

    pub const MANIFEST: &str = r#"
name = "zync-database"
version = "0.1.0"
threescale = ["2.15"]
hooks = ["backup", "restore", "resume"]
[[artifacts]]
path = "zync-database-backup.gz"
format = "gzip"
[[artifacts]]
path = "system"
format = "tree"
[capabilities]
exec = ["deployment=zync-database", { selector = "deployment=system-app", container = "system-master", commands = ["ls", "tar"] }]
read = [{ api-version = "apps.3scale.net/v1alpha1", kind = "APIManager" }, { api-version = "batch/v1", kind = "Job", names = ["system-app-pre"] }]
write = [{ api-version = "v1", kind = "ConfigMap", names = ["system-environment"] }]
patch = [
  { api-version = "apps.3scale.net/v1alpha1", kind = "APIManager", paths = ["/spec/zync"] },
  { api-version = "apps/v1", kind = "Deployment", names = ["zync"], paths = ["/spec/replicas"] },
]
rollout = ["zync"]
"#;

    pub fn grant(hook: Hook) -> Grant {
        Grant::new(&Manifest::parse(MANIFEST).unwrap(), "3scale", hook).unwrap()
    }

    pub fn denial(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::Denied(m)) => m,
            other => panic!("expected a denial, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn describe_runs_with_nothing_granted() {
        let g = Grant::new(
            &Manifest::parse(MANIFEST).unwrap(),
            "3scale",
            Hook::Describe,
        )
        .unwrap();
        assert_eq!(g.hook, Hook::Describe);
        let find = pods::FindPod {
            selector: "deployment=zync-database".into(),
        };
        denial(find.check(&g, None));
        let get = objects::Get::new("apps.3scale.net/v1alpha1", "APIManager", "3scale");
        denial(get.check(&g, None));
        let read = artifacts::StoreCall::read("exists", "zync-database-backup.gz");
        denial(read.check(&g, None));
        let status = rollout::Status {
            deployment: "zync".into(),
        };
        denial(status.check(&g, None));
    }

    #[test]
    fn inspect_words_cover_every_capability() {
        let words = Grant::describe(&Manifest::parse(MANIFEST).unwrap()).join("\n");
        for expected in [
            "pods matching deployment=zync-database",
            "container system-master",
            "read APIManager",
            "create or replace ConfigMap",
            "patch APIManager",
            "restart deployment zync",
            "artifact zync-database-backup.gz",
        ] {
            assert!(words.contains(expected), "{expected}:\n{words}");
        }
    }
}
