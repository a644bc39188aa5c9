//! A stored package's or file's metadata as compact JSON text.
//!
//! Why not a `serde_json::Value`: every instance keeps each repository's
//! package rows in memory for renders, and a parsed `Value` costs five to
//! ten times its text (an apt package's control fields: 630 bytes of JSON,
//! 3.6 KB as a `Value`; an rpm's: 690 bytes, 6.8 KB). Renders read the
//! metadata of the packages they re-render only, so parsing on demand is
//! cheaper than holding every tree.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// JSON metadata, parsed when read.
#[derive(Clone)]
pub struct Metadata(Box<RawValue>);

impl Metadata {
    /// Metadata from stored JSON text; text that is not JSON reads as
    /// `null` (a row is never refused for its metadata when read back).
    pub fn from_json(text: String) -> Metadata {
        RawValue::from_string(text)
            .map(Metadata)
            .unwrap_or_default()
    }

    /// The JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }

    /// The whole metadata, parsed.
    pub fn value(&self) -> Value {
        self.parse().unwrap_or_default()
    }

    /// The metadata as `T`, straight from the text (no `Value` in between).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// One member of an object, parsed (`None` if absent or not an object).
    pub fn get(&self, key: &str) -> Option<Value> {
        // Owned keys: a borrowed `&str` cannot hold a key with escapes.
        let members: std::collections::HashMap<String, &RawValue> =
            serde_json::from_str(self.0.get()).ok()?;
        serde_json::from_str(members.get(key)?.get()).ok()
    }

    /// A string member of an object (`""` if absent or not a string).
    pub fn str(&self, key: &str) -> String {
        match self.get(key) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        }
    }
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata(RawValue::from_string("null".into()).expect("null is JSON"))
    }
}

impl From<Value> for Metadata {
    fn from(v: Value) -> Self {
        Metadata::from(&v)
    }
}

impl From<&Value> for Metadata {
    fn from(v: &Value) -> Self {
        Metadata(serde_json::value::to_raw_value(v).expect("a Value serialises"))
    }
}

impl PartialEq for Metadata {
    /// Equal JSON values, whatever the spacing or member order.
    fn eq(&self, other: &Self) -> bool {
        self.as_json() == other.as_json() || self.value() == other.value()
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_json())
    }
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(Metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_members_and_round_trips() {
        let m = Metadata::from(json!({"md5": "abc", "n": 3, "list": ["x"]}));
        assert_eq!(m.str("md5"), "abc");
        assert_eq!(m.get("n"), Some(json!(3)));
        assert_eq!(m.str("n"), "");
        assert_eq!(m.get("absent"), None);
        let escaped = Metadata::from_json(r#"{"caf\u00e9": "x", "k": 1}"#.into());
        assert_eq!(escaped.str("café"), "x");
        assert_eq!(escaped.get("k"), Some(json!(1)));
        assert_eq!(m.value(), json!({"md5": "abc", "n": 3, "list": ["x"]}));
        let text = serde_json::to_string(&json!({"m": m})).unwrap();
        assert_eq!(text, r#"{"m":{"list":["x"],"md5":"abc","n":3}}"#);
        let back: Metadata = serde_json::from_str(r#" { "n" : 3 } "#).unwrap();
        assert_eq!(back, Metadata::from(json!({"n": 3})));
    }

    #[test]
    fn text_that_is_not_json_reads_as_null() {
        let m = Metadata::from_json("{not json".into());
        assert_eq!(m.value(), Value::Null);
        assert_eq!(m.get("x"), None);
        assert_eq!(Metadata::default().as_json(), "null");
        assert_eq!(Metadata::from_json(String::new()).value(), Value::Null);
    }
}
