//! The vendor manual's commands (chapter "Backup and restore"), `oc` written as
//! `kubectl`, for each release the tests cover. The 2.14 chapter is the 2.15 one with
//! `-l 'deploymentConfig=X'` for `-l 'deployment=X'` (and `oc rollout latest dc/X` for
//! `oc rollout restart deployment/X`, which the 2.14 tests spell themselves), and ten
//! Secrets (shared/reference/3scale-2.14-facts.md section 1).

use std::path::Path;

use super::Sim;

pub struct Manual {
    /// The pod label the manual selects on.
    pub label: &'static str,
    /// The Secrets of 9.4.6.1 and 9.5.1.
    pub secrets: &'static [&'static str],
}

const TEN_SECRETS: &[&str] = &[
    "system-smtp",
    "system-seed",
    "system-database",
    "backend-internal-api",
    "system-events-hook",
    "system-app",
    "system-recaptcha",
    "system-redis",
    "zync",
    "system-master-apicast",
];

/// 2.15: the 2.15 plugins' thirteen Secrets (the 2.15 manual's list was lost from its
/// text; these are what the operator reconciles).
pub const V2_15: Manual = Manual {
    label: "deployment",
    secrets: &[
        "system-smtp",
        "system-seed",
        "system-database",
        "backend-internal-api",
        "system-events-hook",
        "system-app",
        "system-recaptcha",
        "system-redis",
        "zync",
        "system-master-apicast",
        "backend-listener",
        "backend-redis",
        "system-memcache",
    ],
};

pub const V2_14: Manual = Manual {
    label: "deploymentConfig",
    secrets: TEN_SECRETS,
};

impl Manual {
    /// `$(oc get pods -l 'LABEL=X' -o json | jq -r '.items[0].metadata.name')`
    pub fn pod(&self, name: &str) -> String {
        format!(
            "$(kubectl get pods -l '{}={name}' -o json | jq -r '.items[0].metadata.name')",
            self.label
        )
    }

    /// 9.4.1-9.4.6.2 into `dir`. The manual copies whatever dump.rdb is on disk; a SAVE
    /// first makes it current, so a comparison afterwards is about the restore, not about
    /// how old the snapshot was.
    pub fn backup(&self, sim: &Sim, dir: &Path) {
        for redis in ["backend-redis", "system-redis"] {
            sim.shell(
                dir,
                &format!("kubectl exec {} -- redis-cli SAVE", self.pod(redis)),
            );
        }
        sim.shell(
            dir,
            &format!(
                "kubectl exec {mysql} -- bash -c 'export MYSQL_PWD=${{MYSQL_ROOT_PASSWORD}}; mysqldump --single-transaction -hsystem-mysql -uroot system' | gzip > system-mysql-backup.gz
                 kubectl cp {app}:/opt/system/public/system ./system
                 kubectl cp {backend}:/var/lib/redis/data/dump.rdb ./backend-redis-dump.rdb
                 kubectl cp {system}:/var/lib/redis/data/dump.rdb ./system-redis-dump.rdb
                 kubectl exec {zync} -- bash -c 'pg_dump zync_production' | gzip > zync-database-backup.gz
                 kubectl get configmaps system-environment -o json > system-environment.json
                 kubectl get configmaps apicast-environment -o json > apicast-environment.json
                 for s in {secrets}; do kubectl get secrets $s -o json > $s.json; done",
                mysql = self.pod("system-mysql"),
                app = self.pod("system-app"),
                backend = self.pod("backend-redis"),
                system = self.pod("system-redis"),
                zync = self.pod("zync-database"),
                secrets = self.secrets.join(" "),
            ),
        );
    }

    /// 9.5.1: the Secrets and ConfigMaps.
    pub fn restore_objects(&self, sim: &Sim, dir: &Path) {
        sim.shell(
            dir,
            &format!(
                "for s in {}; do kubectl apply -f $s.json; done
                 kubectl apply -f system-environment.json
                 kubectl apply -f apicast-environment.json",
                self.secrets.join(" ")
            ),
        );
    }

    /// 9.5.2 and 9.5.3: system's database and files. The files go in through
    /// system-sidekiq, which mounts the same volume: system-app is scaled to zero then.
    pub fn restore_system(&self, sim: &Sim, dir: &Path) {
        let mysql = self.pod("system-mysql");
        sim.shell(
            dir,
            &format!(
                "kubectl cp ./system-mysql-backup.gz {mysql}:/var/lib/mysql/system-mysql-backup.gz
                 kubectl exec {mysql} -- bash -c 'gzip -d ${{HOME}}/system-mysql-backup.gz'
                 kubectl exec {mysql} -- bash -c 'export MYSQL_PWD=${{MYSQL_ROOT_PASSWORD}}; mysql -hsystem-mysql -uroot system < ${{HOME}}/system-mysql-backup'
                 kubectl cp ./system/. {sidekiq}:/opt/system/public/system",
                sidekiq = self.pod("system-sidekiq"),
            ),
        );
    }

    /// The load in the middle of 9.5.4.1.
    pub fn load_zync(&self, sim: &Sim, dir: &Path) {
        let zync = self.pod("zync-database");
        sim.shell(
            dir,
            &format!(
                "kubectl cp ./zync-database-backup.gz {zync}:/var/lib/pgsql/zync-database-backup.gz
                 kubectl exec {zync} -- bash -c 'gzip -d ${{HOME}}/zync-database-backup.gz'
                 kubectl exec {zync} -- bash -c 'psql -q zync_production -f ${{HOME}}/zync-database-backup'"
            ),
        );
    }
}
