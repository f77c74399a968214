//! The command line. Flags follow kubectl where they mean the same thing.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit codes, for every command's `--help` (a macro so `concat!` can add examples).
macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0  done
  1  failed; for a restore, everything the run changed was put back
  2  bad usage or a plugin file that cannot be used
  3  refused before changing anything (the set fails verification or is not sealed
     by a key given with --trust-key, plugins or a namespace other than the set's, an
     unsupported 3scale version, an earlier run left unfinished, a forged journal, a
     plugin not signed by the --require-signed key, a pulled layer that does not
     match its digest, credentials that may not read the APIManager: 403, see
     `host rbac`)
  4  failed, and not everything could be put back: the report names the journal to
     read, and `host resume --run ID` finishes the put-back
  5  could not reach the cluster (kubeconfig, connection refused, DNS, TLS, or the
     credentials refused with 401): nothing was changed
  6  `host resume` put back what a cut-off restore changed, but that restore is not
     complete (its data were not, or not all, restored): restore again"
    };
}

pub const EXIT_CODES: &str = exit_codes!();

#[derive(Debug, Parser)]
#[command(
    name = "host",
    version,
    about = "Back up and restore Red Hat 3scale API Management, one sandboxed Wasm plugin per component",
    long_about = "Back up and restore Red Hat 3scale API Management on Kubernetes/OpenShift.\n\n\
Each component's procedure (the vendor's manual, automated) is a WebAssembly plugin that runs \
in a sandbox and reaches the cluster only through the capabilities its manifest declares; \
`host inspect PLUGIN.wasm` shows them without running it.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The namespace 3scale runs in (default: the context's namespace).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Where compiled plugins are cached (default: $XDG_CACHE_HOME/host or ~/.cache/host).
    #[arg(long, global = true, value_name = "DIR", env = "HOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile plugins every time instead of using the cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Print only the final report and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More diagnostics on stderr (-v: the host's debug lines, -vv: everything);
    /// RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Where restores keep their run state (audit log, journals, step log, under
    /// runs/ID/) and the key that authenticates journals (default: $XDG_STATE_HOME/host,
    /// else ~/.local/state/host).
    #[arg(long, global = true, value_name = "DIR", env = "HOST_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// The result as text for people, or json or yaml for scripts (schema in
    /// docs/reports.md); progress stays on stderr.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Text, value_name = "FORMAT")]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
    Yaml,
}

/// `--repo`: a directory of backup sets, one per backup.
#[derive(Debug, Clone, Args)]
pub struct RepoArg {
    /// A backup repository: each backup writes a new set into it, named by time and run
    /// id, and only a complete, verified set becomes `latest` (instead of --backup-dir).
    #[arg(long, value_name = "DIR", conflicts_with = "backup_dir")]
    pub repo: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one plugin's backup or restore.
    #[command(after_help = concat!("Examples:
  host run backup  --plugin target/plugins/3scale-2.15/zync.wasm --backup-dir ./bk
  host run restore --plugin target/plugins/3scale-2.15/zync.wasm --backup-dir ./bk

", exit_codes!()))]
    Run {
        #[arg(value_enum)]
        action: Action,
        /// The plugin, e.g. zync.wasm.
        #[arg(long, value_name = "FILE.wasm")]
        plugin: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// (restore)
        #[command(flatten)]
        checks: RestoreChecks,
        /// (backup)
        #[command(flatten)]
        encrypt: EncryptArgs,
    },
    /// Back up every component: each plugin in DIR, independent ones in parallel.
    #[command(after_help = concat!("Examples:
  host backup --repo /backups/3scale -n 3scale            # a new set; latest if it verifies
  host backup --backup-dir ./bk --sign-key seal.key       # one set, sealed
  host backup --repo /backups/3scale --recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  host backup --repo /backups/3scale --recipients-file ops-keys.txt   # age -R's format
  host backup --repo /backups/3scale -o json | jq .result

", exit_codes!()))]
    Backup {
        /// Directory of plugins (*.wasm), or of plugin sets in subdirectories (one per
        /// 3scale release): the set whose manifests declare the namespace's 3scale version
        /// (the APIManager's apps.3scale.net/apimanager-threescale-version annotation) is
        /// used. Default: $XDG_DATA_HOME/host/plugins, else ~/.local/share/host/plugins.
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        repo: RepoArg,
        #[command(flatten)]
        parallel: Parallel,
        /// Seal the set with this ed25519 private key when every component is backed up
        /// (`host key new` makes one); `--trust-key` on restore then checks it.
        #[arg(long, value_name = "FILE")]
        sign_key: Option<PathBuf>,
        #[command(flatten)]
        encrypt: EncryptArgs,
        /// Encrypt with a passphrase, the first line of FILE: the set gets a key of its
        /// own, kept in it as set-key.age under the passphrase (one scrypt, not one per
        /// file); with --recipient too, either opens the set.
        #[arg(
            long = "passphrase-file",
            value_name = "FILE",
            env = "HOST_PASSPHRASE_FILE"
        )]
        passphrase_file: Option<PathBuf>,
        /// With --repo: copy every storage file out of its pod, instead of only those
        /// whose size or modification time changed since the previous good set (whose
        /// other files are copied and checked against their recorded sha256).
        #[arg(long)]
        no_incremental: bool,
    },
    /// Restore every component in the documented order: verify the set, quiesce,
    /// restore, resume; on failure put back what was changed.
    #[command(after_help = concat!("Examples:
  host restore --repo /backups/3scale                     # the latest good set
  host restore --repo /backups/3scale 20261125T101500Z-backup-3f9a0c
  host restore --repo /backups/3scale --plan              # the steps and checks; changes nothing
  host restore --backup-dir ./bk --trust-key seal.key.pub
  host restore --repo /backups/3scale --identity ~/.config/host/age-key.txt   # an encrypted set
  host restore --backup-dir ./bk --parallel 1             # one step at a time, as the manual

", exit_codes!()))]
    Restore {
        /// Directory of plugins (*.wasm), or of plugin sets in subdirectories (one per
        /// 3scale release): the set whose manifests declare the namespace's 3scale version
        /// (the APIManager's apps.3scale.net/apimanager-threescale-version annotation) is
        /// used. Default: $XDG_DATA_HOME/host/plugins, else ~/.local/share/host/plugins.
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        repo: RepoArg,
        /// With --repo: the set to restore, as `host list` names it (default: latest).
        #[arg(value_name = "SET", requires = "repo")]
        set: Option<String>,
        /// Print every step in order with its plugin, hook, capabilities and artifacts, and
        /// the checks that would refuse the run, then stop. Reads the set, the plugins and
        /// the APIManager's 3scale version; changes nothing.
        #[arg(long)]
        plan: bool,
        #[command(flatten)]
        parallel: Parallel,
        #[command(flatten)]
        checks: RestoreChecks,
    },
    /// Finish the put-back of a restore that was cut off (its journal notes remain), and
    /// say how far that restore got.
    #[command(after_help = concat!("Examples:
  host resume --run 20261125T101500Z-restore-3f9a0c       # as the cut-off restore printed it
  host resume --run ID --state-dir /var/lib/host          # run state kept elsewhere

The run is looked for in the state directory, then (runs of earlier hosts) in
the set's runs/ (give its --backup-dir).

", exit_codes!()))]
    Resume {
        /// Directory of plugins (*.wasm), or of plugin sets in subdirectories (one per
        /// 3scale release): the set whose manifests declare the namespace's 3scale version
        /// (the APIManager's apps.3scale.net/apimanager-threescale-version annotation) is
        /// used. Default: $XDG_DATA_HOME/host/plugins, else ~/.local/share/host/plugins.
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        /// The run to finish, as printed by the restore (a directory under the state
        /// directory's runs/).
        #[arg(long, value_name = "ID")]
        run: String,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Check a backup set without touching a cluster: against its manifest.json, or by
    /// format for a set made by hand.
    #[command(after_help = concat!("Examples:
  host verify --backup-dir ./bk --trust-key seal.key.pub
  host verify --repo /backups/3scale                      # the latest good set
  host verify --repo /backups/3scale 20261125T101500Z-backup-3f9a0c -o json
  host verify --repo /backups/3scale --identity key.txt   # an encrypted set: contents too

", exit_codes!()))]
    Verify {
        /// Directory of plugins whose artifacts to check, or of plugin sets (the one for
        /// the 3scale version the set was made from is used). Default:
        /// $XDG_DATA_HOME/host/plugins, else ~/.local/share/host/plugins.
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        /// The backup set (default: the current directory).
        #[arg(long, value_name = "DIR")]
        backup_dir: Option<PathBuf>,
        #[command(flatten)]
        repo: RepoArg,
        /// With --repo: the set to verify (default: latest).
        #[arg(value_name = "SET", requires = "repo")]
        set: Option<String>,
        #[command(flatten)]
        checks: SetChecks,
        /// Refuse plugins not signed by this public key (FILE.wasm.sig beside each).
        #[arg(long, value_name = "PUBFILE", env = "HOST_REQUIRE_SIGNED")]
        require_signed: Option<PathBuf>,
    },
    /// List the sets of a backup repository: result, size, 3scale version, namespace,
    /// time, and which is latest.
    #[command(after_help = "Examples:
  host list --repo /backups/3scale
  host list --repo /backups/3scale -o json | jq -r '.sets[] | select(.result==\"good\") | .name'")]
    List {
        #[arg(long, value_name = "DIR")]
        repo: PathBuf,
    },
    /// Describe one set: its components with files, sizes, times and plugin digests, the
    /// 3scale version, namespace, result and seal.
    #[command(after_help = "Examples:
  host describe --repo /backups/3scale latest
  host describe --repo /backups/3scale 20261125T101500Z-backup-3f9a0c -o yaml
  host describe --backup-dir ./bk")]
    Describe {
        #[command(flatten)]
        repo: RepoArg,
        /// A single set instead of a repository's.
        #[arg(long, value_name = "DIR")]
        backup_dir: Option<PathBuf>,
        /// With --repo: the set (default: latest).
        #[arg(value_name = "SET", requires = "repo")]
        set: Option<String>,
    },
    /// Delete old sets of a repository. The newest good set is never deleted; failed and
    /// incomplete sets go once a newer good set exists.
    #[command(after_help = "Examples:
  host prune --repo /backups/3scale --keep 7 --dry-run    # what would go
  host prune --repo /backups/3scale --keep-within 30d
  host prune --repo /backups/3scale --keep 3 --keep-within 7d   # a set either keeps stays")]
    Prune {
        #[arg(long, value_name = "DIR")]
        repo: PathBuf,
        /// Keep the N newest good sets.
        #[arg(long, value_name = "N", required_unless_present = "keep_within")]
        keep: Option<usize>,
        /// Keep the good sets started within this long (30d, 12h, 90m).
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        keep_within: Option<Duration>,
        /// Say what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Seal a backup set made by `host backup`: check every file against manifest.json,
    /// then sign manifest.json with an ed25519 private key (into manifest.json.sig).
    #[command(after_help = concat!("Examples:
  host seal --sign-key seal.key --backup-dir ./bk
  host seal --sign-key seal.key --backup-dir /backups/3scale/latest

", exit_codes!()))]
    Seal {
        /// The private key (`host key new` makes one).
        #[arg(long, value_name = "FILE")]
        sign_key: PathBuf,
        /// The backup set.
        #[arg(long, value_name = "DIR", default_value = ".")]
        backup_dir: PathBuf,
    },
    /// Print the ServiceAccount, Role and RoleBinding that exactly these plugins' grants
    /// need, as YAML for `kubectl apply -f -`: least privilege for running host in the
    /// cluster (or for the user that runs it).
    #[command(after_help = concat!("Examples:
  host rbac --plugins target/plugins/3scale-2.15 -n 3scale | kubectl apply -f -
  host rbac -n 3scale --service-account nightly-backup > rbac.yaml
  kubectl create token host -n 3scale     # a token for that ServiceAccount

", exit_codes!()))]
    Rbac {
        /// The plugin set, or a directory of sets (the Role then covers every set).
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        /// The ServiceAccount (and Role and RoleBinding) name.
        #[arg(long, value_name = "NAME", default_value = "host")]
        service_account: String,
    },
    /// Print a CronJob that runs `host backup` into a repository on a claim or in S3,
    /// nightly, under the ServiceAccount `host rbac` makes.
    #[command(after_help = concat!("Examples:
  host cronjob -n 3scale --image registry.example.com/host:0.1 --claim host-backups | kubectl apply -f -
  host cronjob -n 3scale --image IMG --claim host-backups --schedule '30 1 * * *' --keep 14
  host cronjob -n 3scale --image IMG --claim host-backups --recipient age1...   # encrypted sets
  host cronjob -n 3scale --image IMG --repo s3://backups/3scale --s3-secret host-s3   # AWS_* keys

", exit_codes!()))]
    Cronjob {
        /// The image that holds host and the plugin sets (see the Containerfile).
        #[arg(long, value_name = "IMAGE")]
        image: String,
        /// The PersistentVolumeClaim that holds the backup repository.
        #[arg(
            long,
            value_name = "NAME",
            required_unless_present = "repo",
            conflicts_with = "repo"
        )]
        claim: Option<String>,
        /// A repository in object storage instead of a claim.
        #[arg(long, value_name = "s3://BUCKET/PREFIX")]
        repo: Option<String>,
        /// The Secret whose keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
        /// AWS_ENDPOINT_URL, ...) become the job's environment. Without it, the
        /// ServiceAccount's web identity (EKS IRSA, OpenShift STS) is what S3 sees.
        #[arg(long, value_name = "NAME", conflicts_with = "claim")]
        s3_secret: Option<String>,
        /// When, in cron syntax.
        #[arg(long, value_name = "CRON", default_value = "0 2 * * *")]
        schedule: String,
        /// The ServiceAccount to run as (`host rbac` makes it).
        #[arg(long, value_name = "NAME", default_value = "host")]
        service_account: String,
        /// Where the plugin sets are in the image.
        #[arg(long, value_name = "DIR", default_value = "/usr/share/host/plugins")]
        plugins: PathBuf,
        /// After each backup, prune the repository to the N newest good sets.
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
        /// Encrypt the nightly sets to this public key (age1... or ssh-...; repeatable).
        /// Only public keys go into the CronJob: the private key stays with whoever
        /// restores.
        #[arg(long = "recipient", value_name = "KEY")]
        recipients: Vec<String>,
    },
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  host completion bash > /etc/bash_completion.d/host     # or: source <(host completion bash)
  host completion zsh > \"${fpath[1]}/_host\"
  host completion fish > ~/.config/fish/completions/host.fish")]
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one per command into a directory.
    #[command(after_help = "Examples:
  host man | man -l -
  host man --out /usr/local/share/man/man1")]
    Man {
        /// Write host.1 and host-COMMAND.1 for every command here instead.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Keys for sealing backup sets.
    #[command(after_help = "Examples:
  host key new --out seal.key        # seal.key (private, 0600) and seal.key.pub")]
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Show what a plugin is and every capability it requests, without running it.
    #[command(after_help = "Examples:
  host inspect target/plugins/3scale-2.15/zync.wasm
  host inspect zync.wasm -o json | jq .capabilities")]
    Inspect {
        /// The plugin file.
        file: PathBuf,
        /// Print the manifest alone as JSON (`-o json` prints the whole inspection).
        #[arg(long)]
        json: bool,
        /// Check the plugin's signature (FILE.sig) against this public key.
        #[arg(long = "key", value_name = "PUBFILE")]
        keys: Vec<PathBuf>,
    },
    /// Plugins: sign and check them, ship them through OCI registries, start a new one.
    #[command(after_help = concat!("Examples:
  host plugin sign --key vendor.key target/plugins/3scale-2.15
  host plugin push registry.example.com/vendor/3scale-plugins:2.15 target/plugins/3scale-2.15
  host plugin pull registry.example.com/vendor/3scale-plugins@sha256:... --require-signed vendor.pub
  host plugin new my-component

", exit_codes!()))]
    Plugin {
        #[command(subcommand)]
        action: PluginAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginAction {
    /// Push a plugin or a whole set (a directory of *.wasm) to an OCI registry, each
    /// plugin in the CNCF Wasm artifact layout with its signature (FILE.wasm.sig)
    /// attached; prints the digest to pull.
    Push {
        /// Where to, e.g. registry.example.com/vendor/3scale-plugins:2.15.
        reference: String,
        /// The plugin file, or the set's directory.
        path: PathBuf,
        /// The set the plugins belong to, which names the directory a pull fills
        /// (default: the set directory's name; for one file, 3scale-X.Y from its manifest).
        #[arg(long, value_name = "NAME")]
        set: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Pull a plugin or a set into the plugin path (DIR/SET/), checking every digest;
    /// nothing is written unless everything checks.
    Pull {
        /// What to pull; REPO@sha256:... pins it (a pull by tag prints the digest).
        reference: String,
        /// The plugin path to fill (default: $XDG_DATA_HOME/host/plugins, else
        /// ~/.local/share/host/plugins).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Refuse the pull unless every plugin is signed by this public key.
        #[arg(long, value_name = "PUBFILE", env = "HOST_REQUIRE_SIGNED")]
        require_signed: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Sign a plugin, or every plugin of a set directory, into FILE.wasm.sig.
    Sign {
        /// The ed25519 private key (`host key new` makes one).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The plugin file, or the set's directory.
        path: PathBuf,
    },
    /// Check a plugin's (or every plugin of a set's) signature against a public key.
    Verify {
        /// The public key (FILE.pub of `host key new`).
        #[arg(long, value_name = "PUBFILE")]
        key: PathBuf,
        /// The plugin file, or the set's directory.
        path: PathBuf,
    },
    /// Write a new plugin crate (Cargo.toml, plugin.toml, build.rs, src/lib.rs) that
    /// builds for wasm32-wasip2 and passes `host inspect`.
    New {
        /// The plugin's name (lowercase, digits, `-`).
        name: String,
        /// Where to write it (default: ./NAME); plugins/3scale-X.Y/NAME in this
        /// repository makes it a workspace member.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The host source tree holding guest-sdk/ and contract/ (default: found above
        /// DIR).
        #[arg(long, value_name = "DIR")]
        sdk: Option<PathBuf>,
        /// The 3scale release the plugin is for.
        #[arg(long, value_name = "X.Y", default_value = "2.15")]
        threescale: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Speak plain HTTP to the registry (always so for localhost and 127.0.0.0/8).
    /// Credentials, if the registry wants them: HOST_REGISTRY_USERNAME and
    /// HOST_REGISTRY_PASSWORD.
    #[arg(long)]
    pub plain_http: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyAction {
    /// Make an ed25519 key pair: the private key in FILE (0600, PKCS#8 PEM), the public
    /// key in FILE.pub (SPKI PEM, for --trust-key). Never overwrites.
    New {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

/// What a restore or verify asks of the set.
#[derive(Debug, Clone, Args)]
pub struct SetChecks {
    /// Accept the set only if it is sealed by this public key (repeatable: any of them).
    /// An unsealed set, one sealed by another key, or one changed after sealing is refused.
    #[arg(long = "trust-key", value_name = "PUBFILE")]
    pub trust_keys: Vec<PathBuf>,
    /// The set has no manifest.json because it was made by hand with the manual's
    /// commands: check each artifact by its format instead. Without it, a set with no
    /// manifest.json is refused.
    #[arg(long, conflicts_with = "trust_keys")]
    pub hand_made: bool,
    /// Use plugins other than the ones the set was made with (manifest.json records each
    /// plugin file's sha256).
    #[arg(long)]
    pub other_plugins: bool,
    /// For an encrypted set: the private key to decrypt it with, as age's -i takes it
    /// (an age key file from `age-keygen`, or an unprotected SSH private key);
    /// repeatable. Without it, verify checks the files' hashes but not their contents.
    #[arg(long = "identity", value_name = "FILE", env = "HOST_IDENTITY")]
    pub identities: Vec<PathBuf>,
    /// For a set encrypted with a passphrase: the file whose first line is it. It opens
    /// the set's set-key.age, which decrypts the rest. (`host run backup`: encrypt with
    /// it, as `host backup --passphrase-file` does.)
    #[arg(
        long = "passphrase-file",
        value_name = "FILE",
        env = "HOST_PASSPHRASE_FILE"
    )]
    pub passphrase_file: Option<PathBuf>,
}

/// Encryption at rest for what a backup writes.
#[derive(Debug, Clone, Args)]
pub struct EncryptArgs {
    /// Encrypt every file of the set to this public key, as age's -r takes it: an age
    /// key (age1...) or an SSH public key (ssh-ed25519 ..., ssh-rsa ...); repeatable.
    /// Each file is an age file from its first byte (staging included), so nothing is
    /// written in plain text; `age -d` opens any of them by hand.
    #[arg(long = "recipient", value_name = "KEY")]
    pub recipients: Vec<String>,
    /// Recipients from a file, one a line (# comments), as age's -R; repeatable.
    #[arg(long = "recipients-file", value_name = "FILE")]
    pub recipients_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreChecks {
    #[command(flatten)]
    pub set: SetChecks,
    /// Restore a set made from another namespace into this one (`-n`).
    #[arg(long)]
    pub other_namespace: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Action {
    Backup,
    Restore,
}

/// `--parallel`, the same for backup and restore.
#[derive(Debug, Clone, Copy, Args)]
pub struct Parallel {
    /// How many components to work on at once: a backup's dumps, or a restore's steps
    /// that do not wait for each other (the data loads while system-app is down). 1 runs
    /// them one after another (a restore's in the order `--plan` prints).
    #[arg(long = "parallel", default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub n: u16,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The backup set directory (default: the current directory, where the manual's
    /// commands work; for `resume`, the set the run recorded).
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Go on even if a plugin does not support the cluster's 3scale version, or the set
    /// was made from another version.
    #[arg(long)]
    pub force: bool,
    /// Guest CPU time allowed per hook call (30s, 2m; a bare number is seconds). Time
    /// in host calls, such as a dump streaming, does not count.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration)]
    pub plugin_cpu: Duration,
    /// Memory cap per plugin instance (256Mi, 1Gi; a bare number is MiB).
    #[arg(long, default_value = "256Mi", value_name = "SIZE", value_parser = size_mib)]
    pub plugin_memory: u64,
    /// A command in a pod that sends no output for this long is stuck (15m, 90s; a bare
    /// number is seconds).
    #[arg(long, default_value = "15m", value_name = "DURATION", value_parser = duration)]
    pub idle_timeout: Duration,
    /// Wall-clock time allowed per hook call, host calls included (6h, 45m; a bare number
    /// is seconds): no plugin keeps 3scale quiesced longer.
    #[arg(long, default_value = "6h", value_name = "DURATION", value_parser = duration)]
    pub hook_timeout: Duration,
    /// The most a run may write into the backup set (500Gi, 256Mi; a bare number is
    /// bytes).
    #[arg(long, default_value = "1TiB", value_name = "SIZE", value_parser = size)]
    pub max_set_size: u64,
    /// Load only plugins signed by this public key (FILE.wasm.sig beside each, made by
    /// `host plugin sign`); any other is refused before anything runs.
    #[arg(long, value_name = "PUBFILE", env = "HOST_REQUIRE_SIGNED")]
    pub require_signed: Option<PathBuf>,
    /// Record the result (time, exit code, duration, last success) as Prometheus metrics
    /// in this file, for node_exporter's textfile collector.
    #[arg(long, value_name = "FILE", env = "HOST_METRICS_FILE")]
    pub metrics_file: Option<PathBuf>,
}

fn size(text: &str) -> Result<u64, String> {
    host::units::parse_size(text, 1)
}

fn size_mib(text: &str) -> Result<u64, String> {
    host::units::parse_size(text, 1 << 20)
}

fn duration(text: &str) -> Result<Duration, String> {
    host::units::parse_duration(text)
}

#[cfg(test)]
mod tests {
    /// clap checks a command's arguments only when it is parsed (two arguments with one
    /// name panic then): every command is checked here, not by the user who runs it.
    #[test]
    fn every_command_is_a_valid_clap_command() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
