//! Plugins and plugin sets in OCI registries, as the Wasm ecosystem ships components.
//!
//! Layout (what `host plugin push` writes and `host plugin pull` accepts):
//! - A plugin is one artifact in the CNCF Wasm OCI layout (oci-wasm): an image manifest
//!   whose config is `application/vnd.wasm.config.v0+json` and whose one layer is the
//!   component, `application/wasm`. Its annotations name the file
//!   (`org.opencontainers.image.title`) and the set it belongs to
//!   ([`SET_ANNOTATION`], e.g. `3scale-2.15`).
//! - A set is an OCI image index (artifactType [`SET_ARTIFACT_TYPE`]) at the reference
//!   pushed, listing one plugin artifact per entry by digest, in the same repository. Its
//!   digest pins every plugin of the set: a pull by `REPO@sha256:...` gets exactly the
//!   files that were pushed.
//! - A plugin's signature (`NAME.wasm.sig`) is an OCI 1.1 referrer of the plugin's
//!   manifest: an artifact of type [`SIGNATURE_ARTIFACT_TYPE`] whose `subject` is the
//!   plugin manifest and whose one layer is the `.sig` file. Registries without the
//!   referrers API (Debian's docker-registry 2.8) get the spec's fallback, an index under
//!   the tag `sha256-HEX` of the plugin manifest, which the pull reads the same way.
//!
//! A pull checks every manifest against the digest that names it and every layer against
//! its descriptor's digest, stages the files in a hidden directory beside the target,
//! checks that each is a plugin the host can load (and signed, if asked), and only then
//! renames the set into place. A refusal leaves the plugin path as it was.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_client::client::{ClientConfig, ClientProtocol, Config};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{
    ImageIndexEntry, OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE, OciDescriptor,
    OciImageIndex, OciImageManifest, OciManifest,
};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_wasm::{ToConfig, WASM_LAYER_MEDIA_TYPE, WASM_MANIFEST_CONFIG_MEDIA_TYPE, WasmConfig};

use super::signature::{self, Requirement};
use crate::error::{Error, Result};

/// The plugin set an artifact belongs to: the directory it is pulled into.
pub const SET_ANNOTATION: &str = "host.3scale.net/plugin-set";
pub const SET_ARTIFACT_TYPE: &str = "application/vnd.host.plugin-set.v1";
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.host.plugin.signature.v1+json";
const TITLE: &str = oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_TITLE;
const VERSION: &str = oci_client::annotations::ORG_OPENCONTAINERS_IMAGE_VERSION;
/// OCI 1.1's empty config for artifacts that need none.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";
/// Larger than any plugin (ours are under 3 MiB) and small enough to hold in memory: a
/// registry that lists a bigger layer is refused before it is downloaded.
const MAX_PLUGIN_BYTES: i64 = 64 << 20;
const MAX_SIG_BYTES: i64 = 16 << 10;
const MAX_PLUGINS_PER_SET: usize = 256;

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Plain HTTP for this registry (always so for loopback addresses and localhost).
    pub plain_http: bool,
}

/// What a push sent.
#[derive(Debug)]
pub struct Pushed {
    /// `REGISTRY/REPO@sha256:...`: what to pull to get exactly this.
    pub pinned: String,
    pub set: String,
    /// Each plugin's file name, layer digest, and whether its signature went with it.
    pub plugins: Vec<(String, String, bool)>,
}

/// What a pull installed.
#[derive(Debug)]
pub struct Pulled {
    /// `REGISTRY/REPO@sha256:...` of what the reference named when it was pulled.
    pub pinned: String,
    /// The reference named a tag, not a digest.
    pub by_tag: bool,
    /// The set directory now holding the plugins.
    pub dir: PathBuf,
    /// Each plugin's file name, layer digest, and the fingerprint of a key whose
    /// signature came with it (checked when the pull was asked to require one).
    pub plugins: Vec<(String, String, Option<String>)>,
}

struct Registry {
    client: Client,
    auth: RegistryAuth,
}

/// `localhost`, `127.x.y.z` and `[::1]`, with or without a port: registries a test or a
/// developer runs on this machine, which speak plain HTTP (as docker treats them).
fn loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn registry_error(what: impl Into<String>, e: OciDistributionError) -> Error {
    Error::Registry {
        what: what.into(),
        source: Box::new(e),
    }
}

fn parse_reference(text: &str) -> Result<Reference> {
    text.parse::<Reference>().map_err(|e| {
        Error::Invalid(format!(
            "`{text}` is not an OCI reference such as registry.example.com/vendor/3scale-plugins:2.15 ({e})"
        ))
    })
}

impl Registry {
    fn new(reference: &Reference, options: &Options) -> Registry {
        // reqwest is built without a crypto provider of its own (see Cargo.toml); the one
        // kube uses serves both. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let registry = reference.resolve_registry().to_string();
        let protocol = if options.plain_http || loopback(&registry) {
            ClientProtocol::HttpsExcept(vec![registry])
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            connect_timeout: Some(std::time::Duration::from_secs(15)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            // A set index is not a multi-platform image: never resolve it to one entry.
            platform_resolver: None,
            ..ClientConfig::default()
        });
        // Credentials from the environment, for registries that want them; none is the
        // usual case for pulls of public sets.
        let auth = match (
            std::env::var("HOST_REGISTRY_USERNAME"),
            std::env::var("HOST_REGISTRY_PASSWORD"),
        ) {
            (Ok(user), Ok(password)) => RegistryAuth::Basic(user, password),
            _ => RegistryAuth::Anonymous,
        };
        Registry { client, auth }
    }

    /// Blob requests reuse what the first authenticated request learned.
    async fn login(&self, reference: &Reference) {
        self.client
            .store_auth_if_needed(reference.resolve_registry(), &self.auth)
            .await;
    }

    async fn push_blob(&self, repo: &Reference, bytes: &[u8], media: &str) -> Result<String> {
        let digest = signature::digest(bytes);
        let exists = self
            .client
            .blob_exists(repo, &digest)
            .await
            .unwrap_or(false);
        if !exists {
            self.client
                .push_blob(repo, bytes.to_vec(), &digest)
                .await
                .map_err(|e| registry_error(format!("pushing a blob ({media}) to {repo}"), e))?;
        }
        Ok(digest)
    }

    /// Pushes a manifest's exact bytes into `repo`'s repository under `tag`, or by its own
    /// digest, and returns its descriptor.
    async fn push_manifest(
        &self,
        repo: &Reference,
        tag: Option<&str>,
        manifest: &OciManifest,
    ) -> Result<OciDescriptor> {
        let body = serde_json::to_vec(manifest).expect("manifests serialise");
        let digest = signature::digest(&body);
        let media_type = manifest.content_type().to_string();
        let (registry, repository) = (repo.registry().to_string(), repo.repository().to_string());
        let target = match tag {
            Some(tag) => Reference::with_tag(registry, repository, tag.to_string()),
            None => Reference::with_digest(registry, repository, digest.clone()),
        };
        self.client
            .push_manifest_raw(
                &target,
                body.clone(),
                media_type.parse().expect("media types are header values"),
            )
            .await
            .map_err(|e| registry_error(format!("pushing the manifest {target}"), e))?;
        Ok(OciDescriptor {
            media_type,
            digest,
            size: body.len() as i64,
            ..OciDescriptor::default()
        })
    }

    /// The manifest `reference` names, checked against the digest in the reference if
    /// there is one; returns it with its digest.
    async fn manifest(&self, reference: &Reference) -> Result<(OciManifest, String)> {
        let (body, digest) = self
            .client
            .pull_manifest_raw(
                reference,
                &self.auth,
                &[OCI_IMAGE_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE],
            )
            .await
            .map_err(|e| match e {
                OciDistributionError::DigestError(d) => Error::Refused(format!(
                    "the manifest {reference} does not match its digest ({d}): refused, nothing was written"
                )),
                e => registry_error(format!("pulling {reference}"), e),
            })?;
        let computed = signature::digest(&body);
        if computed != digest || reference.digest().is_some_and(|d| d != computed) {
            return Err(Error::Refused(format!(
                "the manifest {reference} does not match its digest (its bytes are {computed}): refused, nothing was written"
            )));
        }
        let manifest = serde_json::from_slice(&body).map_err(|e| {
            Error::Refused(format!("{reference} is not an OCI manifest or index: {e}"))
        })?;
        Ok((manifest, digest))
    }

    /// A blob, checked against its descriptor's digest (by oci-client as it streams, and
    /// here again so the refusal names the plugin).
    async fn blob(
        &self,
        repo: &Reference,
        layer: &OciDescriptor,
        what: &str,
        limit: i64,
    ) -> Result<Vec<u8>> {
        if layer.size > limit || layer.size < 0 {
            return Err(Error::Refused(format!(
                "{what} in {repo} is listed as {} bytes, more than the {limit} a plugin may have",
                layer.size
            )));
        }
        let tampered = |got: &str| {
            Error::Refused(format!(
                "{what} in {repo}: the layer the registry sent does not match its digest {} (it is {got}); it was changed after it was pushed. Refused: nothing was written",
                layer.digest
            ))
        };
        let mut out = Vec::with_capacity(layer.size as usize);
        self.client
            .pull_blob(repo, layer, &mut out)
            .await
            .map_err(|e| match e {
                OciDistributionError::DigestError(
                    oci_client::errors::DigestError::VerificationError { actual, .. },
                ) => tampered(&actual),
                e => registry_error(format!("pulling {what} from {repo}"), e),
            })?;
        let got = signature::digest(&out);
        if got != layer.digest || out.len() as i64 != layer.size {
            return Err(tampered(&got));
        }
        Ok(out)
    }

    /// A plugin artifact by its manifest's digest: the file's bytes, after checking the
    /// manifest follows the Wasm OCI layout.
    async fn plugin(
        &self,
        repo: &Reference,
        manifest_digest: &str,
    ) -> Result<(OciImageManifest, Vec<u8>)> {
        let at = repo.clone_with_digest(manifest_digest.to_string());
        let (manifest, _) = self.manifest(&at).await?;
        let OciManifest::Image(manifest) = manifest else {
            return Err(Error::Refused(format!(
                "{at} is an index, not a plugin artifact"
            )));
        };
        let layer = match manifest.layers.as_slice() {
            [one] if one.media_type == WASM_LAYER_MEDIA_TYPE => one.clone(),
            _ => {
                return Err(Error::Refused(format!(
                    "{at} is not a Wasm artifact: the layout has exactly one {WASM_LAYER_MEDIA_TYPE} layer"
                )));
            }
        };
        if manifest.config.media_type != WASM_MANIFEST_CONFIG_MEDIA_TYPE {
            return Err(Error::Refused(format!(
                "{at} is not a Wasm artifact: its config is {}, not {WASM_MANIFEST_CONFIG_MEDIA_TYPE}",
                manifest.config.media_type
            )));
        }
        let name = title(&manifest.annotations).unwrap_or_else(|| layer.digest.clone());
        let bytes = self
            .blob(repo, &layer, &format!("plugin {name}"), MAX_PLUGIN_BYTES)
            .await?;
        Ok((manifest, bytes))
    }

    /// The signature attached to a plugin manifest, if any.
    async fn signature(&self, repo: &Reference, manifest_digest: &str) -> Result<Option<Vec<u8>>> {
        let subject = repo.clone_with_digest(manifest_digest.to_string());
        let referrers = self
            .client
            .pull_referrers(&subject, Some(SIGNATURE_ARTIFACT_TYPE))
            .await
            .map_err(|e| registry_error(format!("listing the signatures of {subject}"), e))?;
        // The latest push replaces the index entry, so there is one; take the last.
        let Some(entry) = referrers
            .manifests
            .iter()
            .rfind(|m| m.artifact_type.as_deref() == Some(SIGNATURE_ARTIFACT_TYPE))
        else {
            return Ok(None);
        };
        let at = repo.clone_with_digest(entry.digest.clone());
        let (manifest, _) = self.manifest(&at).await?;
        let OciManifest::Image(manifest) = manifest else {
            return Err(Error::Refused(format!("{at} is not a signature artifact")));
        };
        let on_subject = manifest
            .subject
            .as_ref()
            .is_some_and(|s| s.digest == manifest_digest);
        let [layer] = manifest.layers.as_slice() else {
            return Err(Error::Refused(format!("{at} is not a signature artifact")));
        };
        if !on_subject || layer.media_type != SIGNATURE_ARTIFACT_TYPE {
            return Err(Error::Refused(format!(
                "{at} is listed as a signature of {subject} but is not one"
            )));
        }
        let bytes = self
            .blob(repo, layer, "a plugin signature", MAX_SIG_BYTES)
            .await?;
        Ok(Some(bytes))
    }

    /// Attaches a signature to a plugin manifest as a referrer, and lists it under the
    /// referrers tag for registries without the referrers API.
    async fn attach_signature(
        &self,
        repo: &Reference,
        subject: &OciDescriptor,
        sig: &[u8],
        file: &str,
    ) -> Result<()> {
        let config = self.push_blob(repo, EMPTY, EMPTY_MEDIA_TYPE).await?;
        let layer = self.push_blob(repo, sig, SIGNATURE_ARTIFACT_TYPE).await?;
        let manifest = OciImageManifest {
            schema_version: 2,
            media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_string()),
            artifact_type: Some(SIGNATURE_ARTIFACT_TYPE.to_string()),
            config: OciDescriptor {
                media_type: EMPTY_MEDIA_TYPE.to_string(),
                digest: config,
                size: EMPTY.len() as i64,
                ..OciDescriptor::default()
            },
            layers: vec![OciDescriptor {
                media_type: SIGNATURE_ARTIFACT_TYPE.to_string(),
                digest: layer,
                size: sig.len() as i64,
                annotations: Some(BTreeMap::from([(TITLE.to_string(), format!("{file}.sig"))])),
                ..OciDescriptor::default()
            }],
            subject: Some(subject.clone()),
            annotations: None,
        };
        let pushed = self
            .push_manifest(repo, None, &OciManifest::Image(manifest))
            .await?;
        let referrers_tag = subject.digest.replace(':', "-");
        let tag = Reference::with_tag(
            repo.registry().to_string(),
            repo.repository().to_string(),
            referrers_tag.clone(),
        );
        let mut index = match self
            .client
            .pull_manifest_raw(&tag, &self.auth, &[OCI_IMAGE_INDEX_MEDIA_TYPE])
            .await
        {
            Ok((body, _)) => serde_json::from_slice::<OciImageIndex>(&body).ok(),
            Err(_) => None,
        }
        .unwrap_or_else(|| empty_index(None, None));
        // One signature per plugin: a new one replaces the old.
        index
            .manifests
            .retain(|m| m.artifact_type.as_deref() != Some(SIGNATURE_ARTIFACT_TYPE));
        index.manifests.push(ImageIndexEntry {
            media_type: OCI_IMAGE_MEDIA_TYPE.to_string(),
            digest: pushed.digest,
            size: pushed.size,
            platform: None,
            annotations: None,
            artifact_type: Some(SIGNATURE_ARTIFACT_TYPE.to_string()),
        });
        self.push_manifest(repo, Some(&referrers_tag), &OciManifest::ImageIndex(index))
            .await?;
        Ok(())
    }

    /// Pushes one plugin file (and its signature, if it has one) by digest; returns its
    /// manifest's descriptor, its layer digest and whether it went signed.
    async fn push_plugin(
        &self,
        repo: &Reference,
        file: &Path,
        set: &str,
    ) -> Result<(OciDescriptor, String, bool)> {
        let bytes = super::read(file)?;
        let examined = super::inspect::examine(file, &bytes)?;
        let name = file_name(file);
        let sig = match signature::read(file) {
            Ok(found) => found,
            Err(why) => return Err(Error::bad_plugin(file, why)),
        };
        let layer_digest = signature::digest(&bytes);
        if sig
            .as_ref()
            .is_some_and(|s| s.signed_digest() != layer_digest)
        {
            return Err(Error::bad_plugin(
                file,
                format!(
                    "{name}.sig signs another file than {name} (it was changed after it was signed): sign it again or remove the .sig"
                ),
            ));
        }
        let (mut config, layer) =
            WasmConfig::from_raw_component(bytes, None).map_err(|e| Error::Registry {
                what: format!("describing {} for the Wasm OCI layout", file.display()),
                source: e.into(),
            })?;
        // The file's time, not the push's: the same file pushed twice is the same artifact.
        if let Ok(modified) = std::fs::metadata(file).and_then(|m| m.modified()) {
            config.created = modified.into();
        }
        let config: Config = config.to_config().map_err(|e| Error::Registry {
            what: "encoding the Wasm config".into(),
            source: e.into(),
        })?;
        let annotations = BTreeMap::from([
            (TITLE.to_string(), name.clone()),
            (SET_ANNOTATION.to_string(), set.to_string()),
            (VERSION.to_string(), examined.manifest.version.clone()),
        ]);
        let mut manifest =
            OciImageManifest::build(std::slice::from_ref(&layer), &config, Some(annotations));
        manifest.media_type = Some(oci_wasm::WASM_MANIFEST_MEDIA_TYPE.to_string());
        self.push_blob(repo, &layer.data, WASM_LAYER_MEDIA_TYPE)
            .await?;
        self.push_blob(repo, &config.data, &config.media_type)
            .await?;
        let descriptor = self
            .push_manifest(repo, None, &OciManifest::Image(manifest))
            .await?;
        let signed = match signature::read(file).ok().flatten() {
            Some(_) => {
                let sig_bytes = std::fs::read(signature::sig_path(file))
                    .map_err(|e| Error::io(signature::sig_path(file), e))?;
                self.attach_signature(repo, &descriptor, &sig_bytes, &name)
                    .await?;
                true
            }
            None => false,
        };
        Ok((descriptor, layer_digest, signed))
    }
}

fn empty_index(
    artifact_type: Option<&str>,
    annotations: Option<BTreeMap<String, String>>,
) -> OciImageIndex {
    OciImageIndex {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_INDEX_MEDIA_TYPE.to_string()),
        manifests: Vec::new(),
        artifact_type: artifact_type.map(str::to_string),
        annotations,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn title(annotations: &Option<BTreeMap<String, String>>) -> Option<String> {
    annotations.as_ref()?.get(TITLE).cloned()
}

/// A name a registry may give that becomes a file or directory name here: one plain path
/// component, nothing hidden, nothing that climbs.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The set a single plugin file goes to when no `--set` is given: `3scale-X.Y` for the
/// one 3scale version it declares.
fn default_set(file: &Path) -> Result<String> {
    let bytes = super::read(file)?;
    let m = super::inspect::examine(file, &bytes)?.manifest;
    match m.threescale.as_slice() {
        [one] => Ok(format!("3scale-{one}")),
        _ => Err(Error::Invalid(format!(
            "{} declares 3scale {}: say which set it belongs to with --set NAME",
            file.display(),
            m.threescale.join(", ")
        ))),
    }
}

/// `host plugin push REF (FILE.wasm | SETDIR)`.
pub async fn push(
    reference: &str,
    source: &Path,
    set: Option<&str>,
    options: &Options,
) -> Result<Pushed> {
    let reference = parse_reference(reference)?;
    let registry = Registry::new(&reference, options);
    registry.login(&reference).await;
    let meta = std::fs::metadata(source).map_err(|e| Error::io(source, e))?;
    let set = match set {
        Some(s) => s.to_string(),
        None if meta.is_dir() => {
            file_name(&std::fs::canonicalize(source).map_err(|e| Error::io(source, e))?)
        }
        None => default_set(source)?,
    };
    if !plain_name(&set) {
        return Err(Error::Invalid(format!(
            "`{set}` is not a set name (letters, digits, `.`, `-`, `_`; it becomes a directory)"
        )));
    }
    if reference.digest().is_some() {
        return Err(Error::Invalid(format!(
            "push to a tag or a repository, not to a digest ({reference}): the push prints the digest to pull"
        )));
    }
    let tag = reference.tag().unwrap_or("latest").to_string();
    let pinned = |digest: &str| {
        format!(
            "{}/{}@{digest}",
            reference.registry(),
            reference.repository()
        )
    };
    if !meta.is_dir() {
        let (descriptor, digest, signed) = registry.push_plugin(&reference, source, &set).await?;
        // Pushed by digest; the tag is one more name for the same bytes.
        let (manifest, _) = registry
            .manifest(&reference.clone_with_digest(descriptor.digest.clone()))
            .await?;
        registry
            .push_manifest(&reference, Some(&tag), &manifest)
            .await?;
        return Ok(Pushed {
            pinned: pinned(&descriptor.digest),
            set,
            plugins: vec![(file_name(source), digest, signed)],
        });
    }
    let files = crate::plugin::wasm_files(source)?;
    if files.is_empty() {
        return Err(Error::bad_plugin(source, "holds no .wasm plugins"));
    }
    let mut index = empty_index(
        Some(SET_ARTIFACT_TYPE),
        Some(BTreeMap::from([
            (SET_ANNOTATION.to_string(), set.clone()),
            (TITLE.to_string(), set.clone()),
        ])),
    );
    let mut plugins = Vec::new();
    for file in &files {
        let (descriptor, digest, signed) = registry.push_plugin(&reference, file, &set).await?;
        index.manifests.push(ImageIndexEntry {
            media_type: descriptor.media_type,
            digest: descriptor.digest,
            size: descriptor.size,
            platform: None,
            annotations: Some(BTreeMap::from([(TITLE.to_string(), file_name(file))])),
            artifact_type: Some(WASM_MANIFEST_CONFIG_MEDIA_TYPE.to_string()),
        });
        plugins.push((file_name(file), digest, signed));
    }
    let descriptor = registry
        .push_manifest(&reference, Some(&tag), &OciManifest::ImageIndex(index))
        .await?;
    Ok(Pushed {
        pinned: pinned(&descriptor.digest),
        set,
        plugins,
    })
}

/// One plugin as pulled, before it is written.
struct Fetched {
    file: String,
    bytes: Vec<u8>,
    sig: Option<Vec<u8>>,
}

/// `host plugin pull REF [--to DIR]`: the set (or plugin) REF names, into `root/SET/`.
pub async fn pull(
    reference: &str,
    root: &Path,
    options: &Options,
    require: Option<&Requirement>,
) -> Result<Pulled> {
    let reference = parse_reference(reference)?;
    let registry = Registry::new(&reference, options);
    registry.login(&reference).await;
    let (manifest, digest) = registry.manifest(&reference).await?;
    let repo = reference.clone();
    let (set, fetched, whole_set) = match manifest {
        OciManifest::ImageIndex(index) => {
            let set = index
                .annotations
                .as_ref()
                .and_then(|a| a.get(SET_ANNOTATION))
                .cloned()
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "{reference} is an index but not a plugin set (no {SET_ANNOTATION} annotation)"
                    ))
                })?;
            if index.manifests.len() > MAX_PLUGINS_PER_SET {
                return Err(Error::Refused(format!(
                    "{reference} lists {} plugins, more than a set may have ({MAX_PLUGINS_PER_SET})",
                    index.manifests.len()
                )));
            }
            let mut fetched = Vec::new();
            for entry in &index.manifests {
                let (manifest, bytes) = registry.plugin(&repo, &entry.digest).await?;
                let file = title(&entry.annotations)
                    .or_else(|| title(&manifest.annotations))
                    .unwrap_or_default();
                let sig = registry.signature(&repo, &entry.digest).await?;
                fetched.push(Fetched { file, bytes, sig });
            }
            (set, fetched, true)
        }
        OciManifest::Image(manifest) => {
            let set = manifest
                .annotations
                .as_ref()
                .and_then(|a| a.get(SET_ANNOTATION))
                .cloned()
                .ok_or_else(|| {
                    Error::Refused(format!(
                        "{reference} is not a host plugin (no {SET_ANNOTATION} annotation)"
                    ))
                })?;
            let (manifest, bytes) = registry.plugin(&repo, &digest).await?;
            let file = title(&manifest.annotations).unwrap_or_default();
            let sig = registry.signature(&repo, &digest).await?;
            (set, vec![Fetched { file, bytes, sig }], false)
        }
    };
    if !plain_name(&set) {
        return Err(Error::Refused(format!(
            "{reference} names its set `{}`, which cannot be a directory name here",
            crate::printable::printable(&set)
        )));
    }
    for f in &fetched {
        if !plain_name(&f.file) || !f.file.ends_with(".wasm") {
            return Err(Error::Refused(format!(
                "{reference} names a plugin file `{}`, which is not a plain NAME.wasm",
                crate::printable::printable(&f.file)
            )));
        }
    }
    std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    // Staged beside the target (one filesystem, so the final rename is atomic), in a
    // hidden directory whose own entries are not `*.wasm`: a run surveying the plugin
    // path meanwhile sees no set in it. Dropped (removed) on any refusal.
    let stage = tempfile::Builder::new()
        .prefix(".pull-")
        .tempdir_in(root)
        .map_err(|e| Error::io(root, e))?;
    let staged = stage.path().join(&set);
    std::fs::create_dir(&staged).map_err(|e| Error::io(&staged, e))?;
    let mut plugins = Vec::new();
    for f in &fetched {
        let path = staged.join(&f.file);
        if path.exists() {
            return Err(Error::Refused(format!(
                "{reference} lists {} twice",
                f.file
            )));
        }
        std::fs::write(&path, &f.bytes).map_err(|e| Error::io(&path, e))?;
        if let Some(sig) = &f.sig {
            std::fs::write(signature::sig_path(&path), sig)
                .map_err(|e| Error::io(signature::sig_path(&path), e))?;
        }
        // A pulled file the host would not load is refused now, not at the next run.
        super::inspect::examine(&path, &f.bytes).map_err(|e| match e {
            Error::BadPlugin { message, .. } => {
                Error::Refused(format!("{} from {reference}: {message}", f.file))
            }
            e => e,
        })?;
        let digest = signature::digest(&f.bytes);
        let signer = match require {
            Some(req) => Some(req.check(&path).map_err(|e| match e {
                Error::Unsigned { message, .. } => Error::Unsigned {
                    path: PathBuf::from(format!("{} from {reference}", f.file)),
                    message,
                },
                e => e,
            })?),
            None => signature::read(&path).ok().flatten().map(|s| s.signer),
        };
        plugins.push((f.file.clone(), digest, signer));
    }
    let dir = root.join(&set);
    if whole_set {
        install_dir(&staged, &dir)?;
    } else {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let f = &fetched[0];
        let target = dir.join(&f.file);
        let staged_file = staged.join(&f.file);
        // The signature first: a run that sees the new plugin sees its signature.
        if f.sig.is_some() {
            rename(
                &signature::sig_path(&staged_file),
                &signature::sig_path(&target),
            )?;
        } else {
            let _ = std::fs::remove_file(signature::sig_path(&target));
        }
        rename(&staged_file, &target)?;
    }
    Ok(Pulled {
        pinned: format!(
            "{}/{}@{digest}",
            reference.registry(),
            reference.repository()
        ),
        by_tag: reference.digest().is_none(),
        dir,
        plugins,
    })
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::io(to, e))
}

/// Puts a staged set directory in place: a rename if there is none yet, else an atomic
/// exchange with the old one (which is then removed), so a run never sees half a set.
fn install_dir(staged: &Path, target: &Path) -> Result<()> {
    if !target.exists() {
        return rename(staged, target);
    }
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL");
    let (from, to) = (c(staged), c(target));
    // SAFETY: both are valid NUL-terminated paths; renameat2 reads them only.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r != 0 {
        return Err(Error::io(target, std::io::Error::last_os_error()));
    }
    // `staged` now holds the old set; the stage directory's drop removes it.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_on_this_machine_speak_plain_http() {
        assert!(loopback("127.0.0.1:5000"));
        assert!(loopback("127.1.2.3"));
        assert!(loopback("localhost:5000"));
        assert!(loopback("[::1]:5000"));
        assert!(!loopback("quay.io"));
        assert!(!loopback("registry.example.com:5000"));
        assert!(!loopback("10.0.0.1:5000"));
    }

    #[test]
    fn names_from_a_registry_stay_one_plain_component() {
        assert!(plain_name("3scale-2.15"));
        assert!(plain_name("zync.wasm"));
        for bad in ["", "..", ".hidden", "a/b", "../x", "a\u{1b}[2J", "a b"] {
            assert!(!plain_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_staged_set_replaces_the_old_one_whole() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("3scale-2.15");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old.wasm"), b"old").unwrap();
        let staged = root.path().join(".pull-x");
        std::fs::create_dir(&staged).unwrap();
        std::fs::write(staged.join("new.wasm"), b"new").unwrap();
        install_dir(&staged, &target).unwrap();
        assert!(target.join("new.wasm").exists());
        assert!(!target.join("old.wasm").exists());
        assert!(
            staged.join("old.wasm").exists(),
            "the old set is left to remove"
        );
    }
}
