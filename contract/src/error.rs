/// Why a manifest (or a set of them) cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML, or not the manifest's shape (an unknown key, a wrong type).
    #[error("its manifest is not valid: {0}")]
    Syntax(String),
    /// Well-formed, but breaks a rule of the contract.
    #[error("its manifest is not valid: {0}")]
    Rule(String),
    /// Several plugins that cannot be loaded together.
    #[error("{0}")]
    Set(String),
}
