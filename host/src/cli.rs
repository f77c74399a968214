//! The command line. Flags follow kubectl where they mean the same thing.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  failed; for a restore, everything the run changed was put back
  2  bad usage or a plugin file that cannot be used
  3  refused before changing anything (the set fails verification or is not sealed
     by a key given with --trust-key, plugins or a namespace other than the set's, an
     unsupported 3scale version, an earlier run left unfinished, a forged journal, a
     plugin not signed by the --require-signed key, a pulled layer that does not
     match its digest)
  4  failed, and not everything could be put back: the report names the journal to
     read, and `host resume --run ID` finishes the put-back";

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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one plugin's backup or restore.
    #[command(after_help = EXIT_CODES)]
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
    },
    /// Back up every component: each plugin in DIR, independent ones in parallel.
    #[command(after_help = EXIT_CODES)]
    Backup {
        /// Directory of plugins (*.wasm), or of plugin sets in subdirectories (one per
        /// 3scale release): the set whose manifests declare the namespace's 3scale version
        /// (the APIManager's apps.3scale.net/apimanager-threescale-version annotation) is
        /// used. Default: $XDG_DATA_HOME/host/plugins, else ~/.local/share/host/plugins.
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        #[command(flatten)]
        run: RunArgs,
        /// How many components to back up at once.
        #[arg(long, default_value_t = 3, value_name = "N")]
        parallel: usize,
        /// Seal the set with this ed25519 private key when every component is backed up
        /// (`host key new` makes one); `--trust-key` on restore then checks it.
        #[arg(long, value_name = "FILE")]
        sign_key: Option<PathBuf>,
    },
    /// Restore every component in the documented order: verify the set, quiesce,
    /// restore, resume; on failure put back what was changed.
    #[command(after_help = EXIT_CODES)]
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
        checks: RestoreChecks,
    },
    /// Finish the put-back of a restore that was cut off (its journal notes remain).
    #[command(after_help = EXIT_CODES)]
    Resume {
        /// Directory of plugins (*.wasm), or of plugin sets in subdirectories (one per
        /// 3scale release): the set whose manifests declare the namespace's 3scale version
        /// (the APIManager's apps.3scale.net/apimanager-threescale-version annotation) is
        /// used. Default: $XDG_DATA_HOME/host/plugins, else ~/.local/share/host/plugins.
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        /// The run to finish, as printed by the restore (a directory under runs/).
        #[arg(long, value_name = "ID")]
        run: String,
        #[command(flatten)]
        args: RunArgs,
    },
    /// Check a backup set without touching a cluster: against its manifest.json, or by
    /// format for a set made by hand.
    Verify {
        /// Directory of plugins whose artifacts to check, or of plugin sets (the one for
        /// the 3scale version the set was made from is used). Default:
        /// $XDG_DATA_HOME/host/plugins, else ~/.local/share/host/plugins.
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        /// The backup set.
        #[arg(long, value_name = "DIR", default_value = ".")]
        backup_dir: PathBuf,
        #[command(flatten)]
        checks: SetChecks,
        /// Refuse plugins not signed by this public key (FILE.wasm.sig beside each).
        #[arg(long, value_name = "PUBFILE", env = "HOST_REQUIRE_SIGNED")]
        require_signed: Option<PathBuf>,
    },
    /// Seal a backup set made by `host backup`: check every file against manifest.json,
    /// then sign manifest.json with an ed25519 private key (into manifest.json.sig).
    #[command(after_help = EXIT_CODES)]
    Seal {
        /// The private key (`host key new` makes one).
        #[arg(long, value_name = "FILE")]
        sign_key: PathBuf,
        /// The backup set.
        #[arg(long, value_name = "DIR", default_value = ".")]
        backup_dir: PathBuf,
    },
    /// Keys for sealing backup sets.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Show what a plugin is and every capability it requests, without running it.
    Inspect {
        /// The plugin file.
        file: PathBuf,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
        /// Check the plugin's signature (FILE.sig) against this public key.
        #[arg(long = "key", value_name = "PUBFILE")]
        keys: Vec<PathBuf>,
    },
    /// Plugins: sign and check them, ship them through OCI registries, start a new one.
    #[command(after_help = EXIT_CODES)]
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

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The backup set directory (the manual's commands work in the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub backup_dir: PathBuf,
    /// Go on even if a plugin does not support the cluster's 3scale version, or the set
    /// was made from another version.
    #[arg(long)]
    pub force: bool,
    /// Guest CPU time allowed per hook call, in seconds (time in host calls, such as a
    /// dump streaming, does not count).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub plugin_cpu: u64,
    /// Memory cap per plugin instance, in MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub plugin_memory: usize,
    /// A command in a pod that sends no output for this long is stuck (seconds).
    #[arg(long, default_value_t = 900, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Wall-clock time allowed per hook call, host calls included (seconds): no plugin
    /// keeps 3scale quiesced longer.
    #[arg(long, default_value_t = 6 * 3600, value_name = "SECS")]
    pub hook_timeout: u64,
    /// The most a run may write into the backup set (e.g. 500GiB).
    #[arg(long, default_value = "1TiB", value_name = "SIZE", value_parser = size)]
    pub max_set_size: u64,
    /// Load only plugins signed by this public key (FILE.wasm.sig beside each, made by
    /// `host plugin sign`); any other is refused before anything runs.
    #[arg(long, value_name = "PUBFILE", env = "HOST_REQUIRE_SIGNED")]
    pub require_signed: Option<PathBuf>,
}

/// `1024`, `64KiB`, `8MiB`, `1GiB`, `1TiB` (K, M, G, T accepted for the same).
fn size(text: &str) -> Result<u64, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 8MiB or 500GiB"))?;
    let shift = match unit {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => return Err(format!("`{unit}`: sizes are in B, KiB, MiB, GiB or TiB")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size("1024"), Ok(1024));
        assert_eq!(size("8MiB"), Ok(8 << 20));
        assert_eq!(size("8M"), Ok(8 << 20));
        assert_eq!(size("1TiB"), Ok(1 << 40));
        assert!(size("8MB").unwrap_err().contains("KiB, MiB"));
        assert!(size("lots").is_err());
        assert!(size("99999999TiB").unwrap_err().contains("too large"));
    }
}
