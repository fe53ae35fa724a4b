//! Reading one document without holding a list whole: the items of a
//! `kind: List` go to a collector one by one as they are parsed, so that a
//! 200 MB `kubectl get -o yaml` costs its objects' reduced form, not a tree of
//! every field. The same code reads YAML and JSON.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::source::collect::Collector;

/// A document: the object without its `items`, and the items collected apart.
pub struct Parsed {
    pub object: Value,
    pub items: Option<Items>,
}

/// The items of a document's top-level `items` list.
#[derive(Default)]
pub struct Items {
    pub collector: Collector,
    /// Why the first item that could not be read failed, naming its position.
    pub error: Option<anyhow::Error>,
}

/// Reads a document; `place` names it, for the places of its items.
/// `since_object` counts the bytes read since the object began, and starts
/// again at each item of a list.
pub struct DocumentSeed<'a> {
    pub place: &'a str,
    pub since_object: Option<&'a std::cell::Cell<usize>>,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = Parsed;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Parsed, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut object = Map::new();
        let mut items = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" && items.is_none() {
                let seed = ItemsSeed {
                    place: self.place,
                    since_object: self.since_object,
                };
                match map.next_value_seed(seed)? {
                    ItemsOrValue::Items(collected) => items = Some(*collected),
                    ItemsOrValue::Value(value) => {
                        object.insert(key, value);
                    }
                }
            } else {
                let value = map.next_value::<Value>()?;
                object.insert(key, value);
            }
        }
        Ok(Parsed {
            object: Value::Object(object),
            items,
        })
    }

    // Anything else is not an object; it is kept as it is, for the error.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(whole(Value::Array(Vec::new())))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Parsed, E> {
        Ok(whole(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Parsed, E> {
        Ok(whole(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Parsed, E> {
        Ok(whole(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Parsed, E> {
        Ok(whole(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Parsed, E> {
        Ok(whole(Value::from(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Parsed, E> {
        Ok(whole(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Parsed, E> {
        Ok(whole(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Parsed, D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn whole(object: Value) -> Parsed {
    Parsed {
        object,
        items: None,
    }
}

enum ItemsOrValue {
    Items(Box<Items>),
    Value(Value),
}

/// A top-level `items`: a list is collected item by item; anything else is
/// kept as a value, for the object's own kind to judge.
struct ItemsSeed<'a> {
    place: &'a str,
    since_object: Option<&'a std::cell::Cell<usize>>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ItemsOrValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ItemsOrValue, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = ItemsOrValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ItemsOrValue, A::Error> {
        let mut items = Items::default();
        let mut index = 0;
        // An item that fails is recorded, not raised: whether it matters depends
        // on the list's kind, which may come after its items.
        loop {
            if let Some(count) = self.since_object {
                count.set(0);
            }
            let Some(item) = seq.next_element::<Value>()? else {
                break;
            };
            index += 1;
            if items.error.is_some() {
                continue;
            }
            let place = format!("{}, item {index}", self.place);
            if let Err(e) = items.collector.add(item, &place) {
                items.error = Some(e.context(format!("item {index}")));
            }
        }
        Ok(ItemsOrValue::Items(Box::new(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ItemsOrValue, A::Error> {
        let value = serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(ItemsOrValue::Value(value))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<ItemsOrValue, E> {
        Ok(ItemsOrValue::Value(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ItemsOrValue, E> {
        Ok(ItemsOrValue::Value(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ItemsOrValue, E> {
        Ok(ItemsOrValue::Value(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ItemsOrValue, E> {
        Ok(ItemsOrValue::Value(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ItemsOrValue, E> {
        Ok(ItemsOrValue::Value(Value::from(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<ItemsOrValue, E> {
        Ok(ItemsOrValue::Value(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<ItemsOrValue, E> {
        Ok(ItemsOrValue::Value(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<ItemsOrValue, D::Error> {
        deserializer.deserialize_any(self)
    }
}
