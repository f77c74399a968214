//! The shell script that is PID 1 of a pod: it builds the pod's private view of the
//! machine (hostname, loopback, tmpfs, volumes, /etc/hosts), initialises a server's data
//! directory the first time, then runs the server and forwards the stop signal to it.

use std::fmt::Write;
use std::path::Path;

use super::templates::{Container, Template, VolumeSource, Workload};

pub struct ScriptInput<'a> {
    pub pod: &'a str,
    pub template: &'a Template,
    /// The pod's own folder (init script, hosts file, logs, generated configs).
    pub pod_dir: &'a Path,
    pub volumes_dir: &'a Path,
    /// Where this pod's emptyDir volumes live on the machine (removed with the pod).
    pub empty_dirs: &'a Path,
    pub tools_dir: &'a Path,
    pub events_dir: &'a Path,
    pub postgres_bin: &'a Path,
}

/// Mount points the pod needs that may not exist on the machine. Created empty on the
/// host filesystem (a bind mount needs a directory to sit on); nothing else is touched.
pub fn mount_points(template: &Template) -> Vec<String> {
    let mut points: Vec<String> = template
        .pod_mounts()
        .iter()
        .map(|(_, path)| path.to_string())
        .collect();
    if template.system_tools {
        points.push(TOOLS_MOUNT.into());
    }
    points.push(template.home.into());
    points
}

pub const TOOLS_MOUNT: &str = "/opt/system/bin";
/// The pod's own folder, as the pod sees it.
pub const POD_MOUNT: &str = "/run/sim-pod";
/// Where system pods' tool stand-ins write their events.
pub const EVENTS_MOUNT: &str = "/run/sim-events";

pub fn init_script(input: &ScriptInput) -> String {
    let mut s = prelude(input);
    let t = input.template;
    // Several containers: each gets a mount namespace of its own (made from the pod's) in
    // which its volume mounts are narrowed to what it declares, as a container runtime
    // gives each container its own root; they share the pod's network, UTS and PIDs.
    if t.containers.len() > 1 {
        for c in t.containers {
            let _ = writeln!(
                s,
                "rm -f {POD_MOUNT}/{ready}\n\
                 unshare --mount --propagation private -- /bin/bash {POD_MOUNT}/{script} &",
                ready = container_ready_file(c.name),
                script = container_script_file(c.name),
            );
        }
    }
    let (main, stop_signal) = match t.workload {
        Workload::MariaDb => {
            s.push_str(
                "mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld\n\
                 chown mysql:mysql /var/lib/mysql\n\
                 if [ ! -d /var/lib/mysql/data/mysql ]; then\n\
                 \x20 mkdir -p /var/lib/mysql/data && chown mysql:mysql /var/lib/mysql/data\n\
                 \x20 mariadb-install-db --user=mysql --datadir=/var/lib/mysql/data \
                 --auth-root-authentication-method=normal --skip-test-db >/dev/null\n\
                 fi\n",
            );
            let _ = writeln!(s, "chown mysql:mysql {POD_MOUNT}/init.sql");
            (
                format!(
                    "/usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql/data \
                     --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
                     --bind-address=127.0.0.1 --port=3306 --skip-name-resolve \
                     --log-error= --init-file={POD_MOUNT}/init.sql"
                ),
                "TERM",
            )
        }
        Workload::Postgres => {
            let bin = input.postgres_bin.display();
            s.push_str(
                "mkdir -p /run/postgresql && chown postgres:postgres /run/postgresql\n\
                 chown postgres:postgres /var/lib/pgsql\n",
            );
            let _ = writeln!(
                s,
                "if [ ! -s /var/lib/pgsql/data/PG_VERSION ]; then\n\
                 \x20 setpriv --reuid=postgres --regid=postgres --init-groups -- {bin}/initdb \
                 -D /var/lib/pgsql/data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null\n\
                 fi"
            );
            (
                format!(
                    "setpriv --reuid=postgres --regid=postgres --init-groups -- {bin}/postgres \
                     -D /var/lib/pgsql/data -k /run/postgresql -c listen_addresses=127.0.0.1 \
                     -p 5432 -c logging_collector=off"
                ),
                // Fast shutdown: SIGTERM would wait for every client to leave.
                "INT",
            )
        }
        Workload::Redis => {
            s.push_str("chown redis:redis /var/lib/redis/data\n");
            (
                format!(
                    "setpriv --reuid=redis --regid=redis --init-groups -- \
                     /usr/bin/redis-server {POD_MOUNT}/redis.conf"
                ),
                "TERM",
            )
        }
        Workload::Idle => ("sleep infinity".to_string(), "KILL"),
    };
    let _ = writeln!(
        s,
        "{main} &\nchild=$!\n\
         trap 'kill -{stop_signal} $child 2>/dev/null || true' TERM INT\n\
         status=0\n\
         while :; do\n\
         \x20 wait $child && status=0 || status=$?\n\
         \x20 kill -0 $child 2>/dev/null || break\n\
         done\n\
         exit $status"
    );
    s
}

/// A container's script in the pod's folder.
pub fn container_script_file(container: &str) -> String {
    format!("container-{container}.sh")
}

/// Written by a container's script once its mounts are in place.
pub fn container_ready_file(container: &str) -> String {
    format!("container-{container}.ready")
}

/// The process of one container of a multi-container pod, started by the pod's PID 1 in a
/// fresh mount namespace: it drops the pod's mounts it does not declare, remounts its
/// read-only ones read-only (a write there fails with EROFS, as in a real container), says
/// it is ready, and idles until the pod ends.
pub fn container_script(pod: &str, t: &Template, c: &Container) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "#!/bin/bash\nset -eu\n# Container {} of pod {pod}.",
        c.name
    );
    for (_, path) in t.pod_mounts() {
        if !c.mounts.iter().any(|m| m.path == path) {
            let _ = writeln!(s, "umount -l {path}");
        }
    }
    s.push_str(&read_only_remounts(c));
    let _ = writeln!(
        s,
        "touch {POD_MOUNT}/{}\ntrap 'exit 0' TERM INT\nsleep infinity &\nwait",
        container_ready_file(c.name)
    );
    s
}

fn read_only_remounts(c: &Container) -> String {
    let mut s = String::new();
    for m in c.mounts.iter().filter(|m| m.read_only) {
        let _ = writeln!(s, "mount -o remount,bind,ro {}", m.path);
    }
    s
}

/// The pod's private view of the machine, common to every pod (a Job's too): hostname,
/// loopback, tmpfs, the pod's folder, /etc/hosts, its volumes (claims, emptyDirs, in-memory
/// ones), the 3scale tool stand-ins, /tmp, and a single container's read-only mounts.
fn prelude(input: &ScriptInput) -> String {
    let t = input.template;
    let pod_dir = input.pod_dir.display();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "#!/bin/bash\nset -eu\n# PID 1 of pod {} (deployment {}).",
        input.pod, t.deployment
    );
    // PID 1 ignores signals it has no handler for: a pod stopped while it is still
    // starting would otherwise sit out the whole grace period.
    s.push_str("trap 'exit 143' TERM INT\n");
    let _ = writeln!(s, "hostname {}", input.pod);
    s.push_str("ip link set lo up\n");
    // The pod's folder and the event log may live under /tmp on the machine, so they are
    // bound into /run before /tmp is replaced by the pod's own.
    s.push_str("mount -t tmpfs -o mode=755 tmpfs /run\n");
    let _ = writeln!(
        s,
        "mkdir -p {POD_MOUNT} && mount --bind {pod_dir} {POD_MOUNT}"
    );
    let _ = writeln!(s, "mount --bind {POD_MOUNT}/hosts /etc/hosts");
    let mounts = t.pod_mounts();
    for (volume, path) in &mounts {
        match volume.source {
            VolumeSource::Claim(claim) => {
                let _ = writeln!(
                    s,
                    "mount --bind {}/{claim} {path}",
                    input.volumes_dir.display()
                );
            }
            VolumeSource::EmptyDir => {
                let _ = writeln!(
                    s,
                    "mount --bind {}/{} {path}",
                    input.empty_dirs.display(),
                    volume.name
                );
            }
            // After every bind from the machine: the data directory may be under /tmp.
            VolumeSource::Memory => {}
        }
    }
    if t.system_tools {
        let _ = writeln!(
            s,
            "mount --bind {} {}",
            input.tools_dir.display(),
            TOOLS_MOUNT
        );
        let _ = writeln!(
            s,
            "mkdir -p {EVENTS_MOUNT} && mount --bind {} {EVENTS_MOUNT}",
            input.events_dir.display()
        );
    }
    for (volume, path) in &mounts {
        if volume.source == VolumeSource::Memory {
            let _ = writeln!(s, "mount -t tmpfs -o mode=1777 tmpfs {path}");
        }
    }
    if !mounts.iter().any(|(_, path)| *path == "/tmp") {
        s.push_str("mount -t tmpfs -o mode=1777 tmpfs /tmp\n");
    }
    if let [only] = t.containers {
        s.push_str(&read_only_remounts(only));
    }
    s
}

/// PID 1 of a Job's pod: the same view of the machine, then the container's command as
/// the container's only process; the pod ends with it (restartPolicy Never).
pub fn job_init_script(
    input: &ScriptInput,
    env: &[(String, String)],
    command: &[String],
) -> String {
    let mut s = prelude(input);
    let mut line = format!("exec env -i -C {}", input.template.home);
    for (k, v) in env {
        line.push(' ');
        line.push_str(&shell_quote(&format!("{k}={v}")));
    }
    for arg in command {
        line.push(' ');
        line.push_str(&shell_quote(arg));
    }
    let _ = writeln!(s, "trap - TERM INT\n{line}");
    s
}

fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', "'\\''"))
}

pub fn hosts_file(pod: &str, services: &[&str]) -> String {
    format!(
        "127.0.0.1\tlocalhost {pod} {}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        services.join(" ")
    )
}

/// The ConfigMap's redis.conf as the operator mounts it, plus the few settings a pod needs
/// to run in the foreground with its data on the volume. `save` and `appendonly` are left
/// exactly as the ConfigMap says: they are what the restore procedure edits.
pub fn redis_conf(from_config_map: &str) -> String {
    format!(
        "{from_config_map}\n# --- set by the simulator's pod runtime ---\n\
         dir /var/lib/redis/data\ndaemonize no\nsupervised no\nlogfile \"\"\npidfile \"\"\n\
         bind 127.0.0.1 -::1\nport 6379\n"
    )
}

/// Run by MariaDB at every start, privileged: keeps root's password equal to
/// MYSQL_ROOT_PASSWORD (the `system-database` URL's) and makes root usable over TCP, as
/// the image does
/// (the install's password-less root@127.0.0.1 would shadow root@'%').
pub fn mysql_init_sql(root_password: &str) -> String {
    let pw = root_password.replace('\\', "\\\\").replace('\'', "\\'");
    format!(
        "CREATE DATABASE IF NOT EXISTS `system`;\n\
         DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';\n\
         CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '{pw}';\n\
         ALTER USER 'root'@'%' IDENTIFIED BY '{pw}';\n\
         ALTER USER 'root'@'localhost' IDENTIFIED BY '{pw}';\n\
         GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;\n\
         FLUSH PRIVILEGES;\n"
    )
}

/// 3scale's tooling stand-in on system pods' PATH (`bundle`). Each task it knows leaves
/// lines in the simulator's event log:
/// - `exec rake zync:resync:domains` succeeds at once;
/// - `exec rake boot openshift:deploy` (the system-app-pre Job) does what
///   3scale/porta's lib/tasks/openshift.rake and db.rake do, against the database in
///   `DATABASE_URL`: checks that public/system is writable, then works on the database
///   for `deploy_job` (db:migrate reads every table); a table that disappears or is
///   re-created meanwhile, or a database it cannot reach, fails the task with the
///   MySQL error, as Rails would fail;
/// - `exec rake boot openshift:post_deploy` (system-app-post) and
///   `exec rake searchd:optimal_index` (the Manticore re-index Job) succeed.
pub fn bundle_stub(deploy_job: std::time::Duration) -> String {
    BUNDLE_STUB
        .replace("@LOG@", &format!("{EVENTS_MOUNT}/events.log"))
        .replace("@DEPLOY_MS@", &deploy_job.as_millis().to_string())
}

const BUNDLE_STUB: &str = r#"#!/bin/bash
# Stand-in for 3scale system's Ruby tooling in the simulator.
note() { echo "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) $(hostname) $*" >> @LOG@; }
case "$*" in
  'exec rake zync:resync:domains')
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) rake zync:resync:domains" >> @LOG@
    echo 'Resyncing domains with zync... done'
    exit 0 ;;
  'exec rake boot openshift:deploy') ;;
  'exec rake boot openshift:post_deploy')
    note "rake boot openshift:post_deploy: backend:storage:enqueue_rewrite"
    echo 'Enqueued backend storage rewrite'
    exit 0 ;;
  'exec rake searchd:optimal_index')
    note "rake searchd:optimal_index"
    echo 'Indexing done'
    exit 0 ;;
  *) echo "bundle: the simulator does not run '$*'" >&2; exit 1 ;;
esac

# rake boot openshift:deploy
abort() {
  echo 'rake aborted!' >&2
  echo "$*" >&2
  note "rake boot openshift:deploy failed: $*"
  exit 1
}
rails_error() {
  { grep -m1 '^ERROR' <<<"$1" || tail -n1 <<<"$1"; } |
    sed -E 's/^ERROR [0-9]+ \([A-Z0-9]+\)( at line [0-9]+)?: //'
}
note "rake boot openshift:deploy started"
[ -w /opt/system/public/system ] || abort "Writable paths check failed:
  - /opt/system/public/system"
url="${DATABASE_URL:-}"
re='^mysql2://([^:@/]+):([^@]*)@([^/:]+)(:([0-9]+))?/([^?]+)'
[[ "$url" =~ $re ]] || abort "ActiveRecord::AdapterNotSpecified: DATABASE_URL is not a mysql2:// URL"
user=${BASH_REMATCH[1]}; host=${BASH_REMATCH[3]}; port=${BASH_REMATCH[5]:-3306}; db=${BASH_REMATCH[6]}
export MYSQL_PWD="${BASH_REMATCH[2]}"
q() { mariadb -h"$host" -P"$port" -u"$user" --connect-timeout=5 -N -B "$@" 2>&1; }
ids="SELECT CONCAT('id ', NAME, ' ', TABLE_ID) FROM information_schema.INNODB_SYS_TABLES WHERE NAME LIKE '${db}/%' ORDER BY NAME;"
if ! start=$(q -e "$ids"); then
  abort "Mysql2::Error::ConnectionError: $(rails_error "$start")"
fi
if [ -z "$start" ]; then
  note "rake boot openshift:deploy: database ${db} has no tables (migration version 0): db:setup; the simulator creates no schema"
  echo "Database ${db} is empty: db:setup"
  exit 0
fi
reads="$ids"
while read -r _ name _; do reads+="SELECT COUNT(*) FROM \`${name#*/}\`;"; done <<<"$start"
echo "db:migrate: reading $(wc -l <<<"$start") tables of ${db} on ${host}"
end=$(( $(date +%s%N) + @DEPLOY_MS@ * 1000000 ))
while :; do
  if ! now=$(q -e "$reads" "$db"); then
    abort "ActiveRecord::StatementInvalid: Mysql2::Error: $(rails_error "$now")"
  fi
  while read -r _ name id; do
    current=$(awk -v n="$name" '$1 == "id" && $2 == n {print $3}' <<<"$now")
    if [ -z "$current" ]; then
      abort "ActiveRecord::StatementInvalid: Mysql2::Error: Table '${name/\//.}' doesn't exist"
    elif [ "$current" != "$id" ]; then
      abort "ActiveRecord::StatementInvalid: Mysql2::Error: Table definition has changed, please retry transaction (${name/\//.} was dropped and re-created while db:migrate ran)"
    fi
  done <<<"$start"
  [ "$(date +%s%N)" -lt "$end" ] || break
  sleep 0.2
done
note "rake boot openshift:deploy: db:migrate done, nothing to migrate"
echo 'db:migrate done'
exit 0
"#;
