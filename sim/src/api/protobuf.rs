//! The protobuf bodies kubectl's typed clients send (client-go asks for
//! `application/vnd.kubernetes.protobuf` for built-in kinds and, against this client,
//! does not retry a 415 with JSON), read into JSON for the kinds that need them:
//! `kubectl create serviceaccount`, `create token`, `auth can-i [--list]` and
//! `auth whoami`. Field
//! numbers are those of k8s.io/api's generated.proto (core/v1, authentication/v1,
//! authorization/v1) and apimachinery's meta/v1 and runtime.

use serde_json::{Map, Value, json};

/// apimachinery runtime/serializer/protobuf: `protoEncodingPrefix`, then a runtime.Unknown.
const MAGIC: &[u8] = b"k8s\x00";

/// The object in `body` as JSON, if its kind is one read here; `Err` if it is not
/// protobuf we can read.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let unknown = body
        .strip_prefix(MAGIC)
        .ok_or("the body does not start with the Kubernetes protobuf prefix")?;
    // runtime.Unknown: typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2.
    let unknown = Message::parse(unknown)?;
    let type_meta = Message::parse(unknown.bytes(1).unwrap_or_default())?;
    let api_version = type_meta.string(1);
    let kind = type_meta.string(2);
    let raw = Message::parse(unknown.bytes(2).unwrap_or_default())?;
    let mut object = match kind.as_str() {
        "ServiceAccount" => service_account(&raw)?,
        "TokenRequest" => token_request(&raw)?,
        "SelfSubjectAccessReview" => self_subject_access_review(&raw)?,
        // Its one field besides metadata is the status the server fills in.
        "SelfSubjectReview" => json!({}),
        "SelfSubjectRulesReview" => {
            json!({"spec": {"namespace": Message::parse(raw.bytes(2).unwrap_or_default())?.string(1)}})
        }
        other => return Err(format!("the simulator does not read {other} in protobuf")),
    };
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    object["metadata"] = object_meta(&raw)?;
    Ok(object)
}

/// meta/v1 ObjectMeta (field 1 of every object): name = 1, generateName = 2,
/// namespace = 3, labels = 11, annotations = 12.
fn object_meta(object: &Message) -> Result<Value, String> {
    let meta = Message::parse(object.bytes(1).unwrap_or_default())?;
    let mut out = Map::new();
    // gogo-protobuf writes every string field, empty or not; an empty one is unset.
    for (key, field) in [("name", 1), ("generateName", 2), ("namespace", 3)] {
        let value = meta.string(field);
        if !value.is_empty() {
            out.insert(key.into(), json!(value));
        }
    }
    for (key, field) in [("labels", 11), ("annotations", 12)] {
        let mut map = Map::new();
        for entry in meta.all_bytes(field) {
            let entry = Message::parse(entry)?;
            map.insert(entry.string(1), json!(entry.string(2)));
        }
        if !map.is_empty() {
            out.insert(key.into(), Value::Object(map));
        }
    }
    Ok(Value::Object(out))
}

/// core/v1 ServiceAccount: automountServiceAccountToken = 4 (its secret lists are for
/// the token controller of old and not read).
fn service_account(account: &Message) -> Result<Value, String> {
    let mut out = json!({});
    if let Some(automount) = account.varint(4) {
        out["automountServiceAccountToken"] = json!(automount != 0);
    }
    Ok(out)
}

/// authentication/v1 TokenRequest: spec = 2 {audiences = 1, boundObjectRef = 3
/// {kind = 1, apiVersion = 2, name = 3, uid = 4}, expirationSeconds = 4}.
fn token_request(request: &Message) -> Result<Value, String> {
    let spec = Message::parse(request.bytes(2).unwrap_or_default())?;
    let mut out = json!({"spec": {}});
    let audiences: Vec<String> = spec
        .all_bytes(1)
        .into_iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if !audiences.is_empty() {
        out["spec"]["audiences"] = json!(audiences);
    }
    if let Some(seconds) = spec.varint(4) {
        out["spec"]["expirationSeconds"] = json!(seconds as i64);
    }
    if let Some(reference) = spec.bytes(3) {
        let reference = Message::parse(reference)?;
        out["spec"]["boundObjectRef"] = json!({
            "kind": reference.string(1), "apiVersion": reference.string(2),
            "name": reference.string(3), "uid": reference.string(4),
        });
    }
    Ok(out)
}

/// authorization/v1 SelfSubjectAccessReview: spec = 2 {resourceAttributes = 1
/// {namespace, verb, group, version, resource, subresource, name = 1..7},
/// nonResourceAttributes = 2 {path = 1, verb = 2}}.
fn self_subject_access_review(review: &Message) -> Result<Value, String> {
    let spec = Message::parse(review.bytes(2).unwrap_or_default())?;
    let mut out = json!({"spec": {}});
    if let Some(attributes) = spec.bytes(1) {
        let attributes = Message::parse(attributes)?;
        let keys = [
            "namespace",
            "verb",
            "group",
            "version",
            "resource",
            "subresource",
            "name",
        ];
        let mut map = Map::new();
        for (field, key) in (1..).zip(keys) {
            if attributes.bytes(field).is_some() {
                map.insert(key.into(), json!(attributes.string(field)));
            }
        }
        out["spec"]["resourceAttributes"] = Value::Object(map);
    }
    if let Some(attributes) = spec.bytes(2) {
        let attributes = Message::parse(attributes)?;
        out["spec"]["nonResourceAttributes"] =
            json!({"path": attributes.string(1), "verb": attributes.string(2)});
    }
    Ok(out)
}

/// One message's fields in wire order (protobuf encoding: a varint key of field number
/// and wire type, then a varint, 8 or 4 bytes, or a length and that many bytes).
struct Message<'a> {
    fields: Vec<(u64, Field<'a>)>,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Message<'a> {
    fn parse(mut data: &'a [u8]) -> Result<Message<'a>, String> {
        let mut fields = Vec::new();
        while !data.is_empty() {
            let key = varint(&mut data)?;
            let field = match key & 7 {
                0 => Field::Varint(varint(&mut data)?),
                1 | 5 => {
                    let width = if key & 7 == 1 { 8 } else { 4 };
                    data = data.get(width..).ok_or("a truncated fixed-width field")?;
                    Field::Fixed
                }
                2 => {
                    let len = usize::try_from(varint(&mut data)?).map_err(|e| e.to_string())?;
                    let (value, rest) = (data.get(..len), data.get(len..));
                    data = rest.ok_or("a truncated length-delimited field")?;
                    Field::Bytes(value.ok_or("a truncated length-delimited field")?)
                }
                other => return Err(format!("unsupported protobuf wire type {other}")),
            };
            fields.push((key >> 3, field));
        }
        Ok(Message { fields })
    }

    /// The last occurrence of a length-delimited field (proto2 `optional`: last wins).
    fn bytes(&self, number: u64) -> Option<&'a [u8]> {
        self.all_bytes(number).pop()
    }

    fn all_bytes(&self, number: u64) -> Vec<&'a [u8]> {
        self.fields
            .iter()
            .filter_map(|(n, f)| match f {
                Field::Bytes(b) if *n == number => Some(*b),
                _ => None,
            })
            .collect()
    }

    fn string(&self, number: u64) -> String {
        String::from_utf8_lossy(self.bytes(number).unwrap_or_default()).into_owned()
    }

    fn varint(&self, number: u64) -> Option<u64> {
        self.fields.iter().rev().find_map(|(n, f)| match f {
            Field::Varint(v) if *n == number => Some(*v),
            _ => None,
        })
    }
}

fn varint(data: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = data.split_first().ok_or("a truncated varint")?;
        *data = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("a varint longer than 64 bits".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    /// What client-go sends for `kubectl create token host --duration=2h`.
    #[test]
    fn reads_a_token_request_in_its_envelope() {
        let spec = [4 << 3, 0xa0, 0x38]; // expirationSeconds = 7200 (varint)
        let raw = [field(1, &[]), field(2, &spec)].concat();
        let type_meta = [
            field(1, b"authentication.k8s.io/v1"),
            field(2, b"TokenRequest"),
        ]
        .concat();
        let unknown = [field(1, &type_meta), field(2, &raw)].concat();
        let body = [MAGIC.to_vec(), unknown].concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "metadata": {}, "spec": {"expirationSeconds": 7200}})
        );
    }

    #[test]
    fn reads_an_access_review_and_a_service_account() {
        let attributes = [
            field(1, b"3scale"),
            field(2, b"create"),
            field(5, b"pods"),
            field(6, b"exec"),
        ]
        .concat();
        let raw = [field(2, &field(1, &attributes))].concat();
        let type_meta = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &raw)].concat();
        assert_eq!(
            decode(&body).unwrap()["spec"],
            json!({"resourceAttributes": {"namespace": "3scale", "verb": "create", "resource": "pods", "subresource": "exec"}})
        );

        let label = [field(1, b"app"), field(2, b"host")].concat();
        let meta = [field(1, b"host"), field(11, &label)].concat();
        let type_meta = [field(1, b"v1"), field(2, b"ServiceAccount")].concat();
        let body = [
            MAGIC.to_vec(),
            field(1, &type_meta),
            field(2, &field(1, &meta)),
        ]
        .concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "host", "labels": {"app": "host"}}})
        );
        assert!(decode(b"{}").is_err());
    }
}
