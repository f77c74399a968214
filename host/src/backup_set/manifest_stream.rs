//! manifest.json read as a stream. A tree of 100,000 files makes some 30 MB of JSON and
//! as many records; read whole and parsed into a `SetManifest`, it took a restore's
//! verification past 180 MiB. Here each record is handed on as it is parsed and kept by
//! no one unless the caller keeps it, and the file is read through a small buffer, so
//! verifying a set costs the same memory whatever the number of its files.
//!
//! The visitors below stand in for the derived `Deserialize` of `SetManifest` and
//! `Component` only to reach the records; every field is still read by its own derived
//! impl, with the same rules: unknown fields ignored, the same defaults, each field once.
//! One rule is added: a component listed twice is refused, where a map would have kept
//! the last and hidden the first one's records.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use super::manifest::{ArtifactRecord, Component, SetManifest};
use crate::error::{Error, Result};

/// What is done with each record as it is parsed: given its component's name. An error
/// stops the read, and is what the read returns.
pub type OnRecord<'a> = dyn FnMut(&str, ArtifactRecord) -> Result<()> + 'a;

/// Why a read stopped before the manifest's end.
#[derive(Debug)]
pub enum Stop {
    /// Not JSON, or JSON that is not a manifest.
    Json(serde_json::Error),
    /// What `on_record` returned.
    Record(Error),
}

/// Parses one manifest from `reader`, to its end (only whitespace may follow). The
/// manifest returned has every component's `artifacts` empty: its records went to
/// `on_record`, in the file's order.
pub fn parse<R: Read>(
    reader: R,
    on_record: &mut OnRecord<'_>,
) -> std::result::Result<SetManifest, Stop> {
    let mut sink = Sink {
        on_record,
        stopped: None,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = ManifestSeed { sink: &mut sink }
        .deserialize(&mut de)
        .and_then(|m| de.end().map(|()| m));
    match (parsed, sink.stopped) {
        // The JSON error is only how the record's error stopped serde: the record's wins.
        (_, Some(e)) => Err(Stop::Record(e)),
        (Ok(m), None) => Ok(m),
        (Err(e), None) => Err(Stop::Json(e)),
    }
}

/// The 3scale version the manifest records, read only as far as that field (`host`
/// writes it fourth, before the records): a restore's first question of a set, asked
/// before verification, costs a few hundred bytes instead of a parse of every record.
/// `None` if the manifest has none or is not JSON that far.
pub fn threescale_version<R: Read>(reader: R) -> Option<String> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_reader(reader);
    // serde_json then finds the map unfinished and says so: no matter, the field is read.
    let _ = de.deserialize_map(VersionVisitor { found: &mut found });
    found.flatten()
}

struct VersionVisitor<'a> {
    found: &'a mut Option<Option<String>>,
}

impl<'de> Visitor<'de> for VersionVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a backup set manifest")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        while let Some(key) = map.next_key()? {
            if let ManifestField::ThreescaleVersion = key {
                *self.found = Some(map.next_value()?);
                return Ok(());
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// A buffered reader that shows every byte it reads to `tap` (the seal's check, a
/// digest), and counts them. Its own buffer, not a `BufReader`: serde_json reads a
/// reader a byte at a time, and this path is the one byte costs least on.
pub struct Tapped<'a, R> {
    inner: R,
    tap: &'a mut dyn FnMut(&[u8]),
    /// Bytes read from `inner` (and shown to `tap`).
    pub read: u64,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

impl<'a, R: Read> Tapped<'a, R> {
    pub fn new(inner: R, tap: &'a mut dyn FnMut(&[u8])) -> Self {
        Tapped {
            inner,
            tap,
            read: 0,
            buf: vec![0u8; 64 << 10].into_boxed_slice(),
            pos: 0,
            end: 0,
        }
    }
}

impl<R: Read> Read for Tapped<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.end {
            let n = self.inner.read(&mut self.buf)?;
            (self.tap)(&self.buf[..n]);
            self.read += n as u64;
            (self.pos, self.end) = (0, n);
        }
        if out.len() == 1 && self.pos < self.end {
            out[0] = self.buf[self.pos];
            self.pos += 1;
            return Ok(1);
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

struct Sink<'a, 'b> {
    on_record: &'a mut OnRecord<'b>,
    stopped: Option<Error>,
}

impl Sink<'_, '_> {
    fn record<E: de::Error>(
        &mut self,
        component: &str,
        record: ArtifactRecord,
    ) -> std::result::Result<(), E> {
        (self.on_record)(component, record).map_err(|e| {
            self.stopped = Some(e);
            E::custom("stopped at a record")
        })
    }
}

/// Takes the next value of `map` into `slot`, refusing a field given twice, as the
/// derived impls do.
fn once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> std::result::Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

fn given<T, E: de::Error>(slot: Option<T>, name: &'static str) -> std::result::Result<T, E> {
    slot.ok_or_else(|| E::missing_field(name))
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ManifestField {
    Format,
    Tool,
    Namespace,
    ThreescaleVersion,
    Started,
    Finished,
    Components,
    Plugins,
    Failed,
    Encryption,
    #[serde(other)]
    Other,
}

struct ManifestSeed<'s, 'a, 'b> {
    sink: &'s mut Sink<'a, 'b>,
}

impl<'de> DeserializeSeed<'de> for ManifestSeed<'_, '_, '_> {
    type Value = SetManifest;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<SetManifest, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ManifestSeed<'_, '_, '_> {
    type Value = SetManifest;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a backup set manifest")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<SetManifest, A::Error> {
        let (mut format, mut tool, mut namespace, mut threescale_version) =
            (None, None, None, None);
        let (mut started, mut finished, mut components) = (None, None, None);
        let (mut plugins, mut failed, mut encryption) = (None, None, None);
        while let Some(key) = map.next_key()? {
            match key {
                ManifestField::Format => once(&mut map, &mut format, "format")?,
                ManifestField::Tool => once(&mut map, &mut tool, "tool")?,
                ManifestField::Namespace => once(&mut map, &mut namespace, "namespace")?,
                ManifestField::ThreescaleVersion => {
                    once(&mut map, &mut threescale_version, "threescale_version")?
                }
                ManifestField::Started => once(&mut map, &mut started, "started")?,
                ManifestField::Finished => once(&mut map, &mut finished, "finished")?,
                ManifestField::Components => {
                    if components.is_some() {
                        return Err(de::Error::duplicate_field("components"));
                    }
                    components = Some(map.next_value_seed(ComponentsSeed {
                        sink: &mut *self.sink,
                    })?);
                }
                ManifestField::Plugins => once(&mut map, &mut plugins, "plugins")?,
                ManifestField::Failed => once(&mut map, &mut failed, "failed")?,
                ManifestField::Encryption => once(&mut map, &mut encryption, "encryption")?,
                ManifestField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(SetManifest {
            format: given(format, "format")?,
            tool: given(tool, "tool")?,
            namespace: given(namespace, "namespace")?,
            // An Option left out is None, as the derived impl has it.
            threescale_version: threescale_version.flatten(),
            started: given(started, "started")?,
            finished: given(finished, "finished")?,
            components: given(components, "components")?,
            plugins: plugins.unwrap_or_default(),
            failed: failed.unwrap_or_default(),
            encryption: encryption.flatten(),
        })
    }
}

struct ComponentsSeed<'s, 'a, 'b> {
    sink: &'s mut Sink<'a, 'b>,
}

impl<'de> DeserializeSeed<'de> for ComponentsSeed<'_, '_, '_> {
    type Value = BTreeMap<String, Component>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ComponentsSeed<'_, '_, '_> {
    type Value = BTreeMap<String, Component>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("components by name")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            if out.contains_key(&name) {
                return Err(de::Error::custom(format!(
                    "component `{name}` is listed twice"
                )));
            }
            let component = map.next_value_seed(ComponentSeed {
                name: &name,
                sink: &mut *self.sink,
            })?;
            out.insert(name, component);
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ComponentField {
    Plugin,
    Started,
    Finished,
    Artifacts,
    #[serde(other)]
    Other,
}

struct ComponentSeed<'n, 's, 'a, 'b> {
    name: &'n str,
    sink: &'s mut Sink<'a, 'b>,
}

impl<'de> DeserializeSeed<'de> for ComponentSeed<'_, '_, '_, '_> {
    type Value = Component;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Component, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ComponentSeed<'_, '_, '_, '_> {
    type Value = Component;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a component")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Component, A::Error> {
        let (mut plugin, mut started, mut finished, mut artifacts) = (None, None, None, None);
        while let Some(key) = map.next_key()? {
            match key {
                ComponentField::Plugin => once(&mut map, &mut plugin, "plugin")?,
                ComponentField::Started => once(&mut map, &mut started, "started")?,
                ComponentField::Finished => once(&mut map, &mut finished, "finished")?,
                ComponentField::Artifacts => {
                    if artifacts.is_some() {
                        return Err(de::Error::duplicate_field("artifacts"));
                    }
                    artifacts = Some(map.next_value_seed(RecordsSeed {
                        component: self.name,
                        sink: &mut *self.sink,
                    })?);
                }
                ComponentField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        given::<(), _>(artifacts, "artifacts")?;
        Ok(Component {
            plugin: given(plugin, "plugin")?,
            started: given(started, "started")?,
            finished: given(finished, "finished")?,
            artifacts: Vec::new(),
        })
    }
}

struct RecordsSeed<'n, 's, 'a, 'b> {
    component: &'n str,
    sink: &'s mut Sink<'a, 'b>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, '_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, '_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of artifact records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(record) = seq.next_element::<ArtifactRecord>()? {
            self.sink.record(self.component, record)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_set::manifest::PluginRecord;
    use contract::manifest::Format;

    fn sample() -> SetManifest {
        let mut m = SetManifest::new("3scale", Some("2.15".into()), "t0".into());
        let plugin = |name: &str| PluginRecord {
            name: name.into(),
            version: "1".into(),
            sha256: "ab".into(),
            file: format!("{name}.wasm"),
        };
        for (name, n) in [("system-storage", 3), ("zync", 1)] {
            m.components.insert(
                name.into(),
                Component {
                    plugin: plugin(name),
                    started: "t1".into(),
                    finished: "t2".into(),
                    artifacts: (0..n)
                        .map(|i| ArtifactRecord {
                            path: format!("{name}/{i}"),
                            artifact: name.into(),
                            format: Format::Tree,
                            size: i,
                            sha256: "cd".into(),
                            plain_size: None,
                            mtime: Some(i),
                        })
                        .collect(),
                },
            );
        }
        m.plugins.insert("zync".into(), plugin("zync"));
        m.failed.insert("system-redis".into(), "why".into());
        m
    }

    fn streamed(json: &[u8]) -> std::result::Result<SetManifest, Stop> {
        let mut records: Vec<(String, ArtifactRecord)> = Vec::new();
        let mut m = parse(json, &mut |c, r| {
            records.push((c.to_string(), r));
            Ok(())
        })?;
        for (c, r) in records {
            m.components.get_mut(&c).unwrap().artifacts.push(r);
        }
        Ok(m)
    }

    /// Whatever the derived impl reads, the stream reads the same, records in order.
    #[test]
    fn reads_what_the_derived_impl_reads() {
        let m = sample();
        let json = serde_json::to_vec_pretty(&m).unwrap();
        assert_eq!(streamed(&json).unwrap(), m);
        let mut value = serde_json::to_value(&m).unwrap();
        value["unknown"] = serde_json::json!({"a": [1, 2]});
        value["components"]["zync"]["unknown"] = 1.into();
        value.as_object_mut().unwrap().remove("threescale_version");
        value.as_object_mut().unwrap().remove("failed");
        let json = serde_json::to_vec(&value).unwrap();
        let derived: SetManifest = serde_json::from_slice(&json).unwrap();
        assert_eq!(streamed(&json).unwrap(), derived);
    }

    #[test]
    fn refuses_what_the_derived_impl_refuses_and_a_component_twice() {
        let m = sample();
        let text = serde_json::to_string(&m).unwrap();
        let refused = |json: &str, words: &str| match streamed(json.as_bytes()) {
            Err(Stop::Json(e)) => assert!(e.to_string().contains(words), "{e}"),
            other => panic!("{words}: {other:?}"),
        };
        refused(
            &text.replacen("\"namespace\"", "\"namespaces\"", 1),
            "missing field `namespace`",
        );
        refused(
            &text.replacen("\"size\":0", "\"size\":\"0\"", 1),
            "invalid type",
        );
        refused(&format!("{text} {{}}"), "trailing characters");
        refused(&text[..text.len() / 2], "EOF");
        let zync = serde_json::to_string(&m.components["zync"]).unwrap();
        let twice = text.replacen(
            "\"components\":{",
            &format!("\"components\":{{\"zync\":{zync},"),
            1,
        );
        refused(&twice, "component `zync` is listed twice");
    }

    #[test]
    fn the_version_is_read_without_the_records() {
        let json = serde_json::to_vec_pretty(&sample()).unwrap();
        assert_eq!(threescale_version(&json[..]).as_deref(), Some("2.15"));
        // Only as far as the field: what follows is not read.
        let at = 1 + json.windows(6).position(|w| w == b"\"2.15\"").unwrap() + 5;
        assert_eq!(threescale_version(&json[..at]).as_deref(), Some("2.15"));
        let mut m = sample();
        m.threescale_version = None;
        let json = serde_json::to_vec_pretty(&m).unwrap();
        assert_eq!(threescale_version(&json[..]), None);
        assert_eq!(threescale_version(&b"not json"[..]), None);
    }

    #[test]
    fn a_records_error_stops_the_read_and_is_returned() {
        let json = serde_json::to_vec(&sample()).unwrap();
        let mut seen = 0;
        let stopped = parse(&json[..], &mut |_, r| {
            seen += 1;
            if r.path == "system-storage/1" {
                return Err(Error::Invalid("this one".into()));
            }
            Ok(())
        });
        assert!(matches!(stopped, Err(Stop::Record(Error::Invalid(m))) if m == "this one"));
        assert_eq!(seen, 2);
    }
}
