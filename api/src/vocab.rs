//! Closed vocabularies at the edge: [`Vocab<T>`] documents a domain enum as a string enum
//! in the OpenAPI document (so generated clients get union types) and parses into it.
//! A value outside the set is kept rather than refused by the framework, so the handler's
//! `get(field)` answers the documented 422 naming the field, like every other rule.

use std::borrow::Cow;

use courtyard_domain::people::Vocabulary;
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

use crate::error::{ApiError, FieldContext};

/// A value of the closed vocabulary `T` as it crosses the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vocab<T> {
    /// One of `T`'s values.
    Known(T),
    /// Text outside the set, as sent (refused by [`Vocab::get`]).
    Unknown(String),
}

impl<T: Vocabulary> Vocab<T> {
    /// The value, or a 422 naming `field` when it is not one of `T`'s.
    pub fn get(&self, field: &str) -> Result<T, ApiError> {
        match self {
            Vocab::Known(value) => Ok(*value),
            Vocab::Unknown(raw) => T::parse_text(raw).field(field),
        }
    }

    /// A stored value (always one of `T`'s; anything else is shown as stored).
    pub fn stored(raw: &str) -> Self {
        Self::from_text(raw)
    }

    fn from_text(raw: &str) -> Self {
        match T::parse_text(raw) {
            Ok(value) => Vocab::Known(value),
            Err(_) => Vocab::Unknown(raw.to_owned()),
        }
    }

    /// The value as the API writes it.
    pub fn text(&self) -> &str {
        match self {
            Vocab::Known(value) => value.text(),
            Vocab::Unknown(raw) => raw,
        }
    }
}

impl<T: Vocabulary> From<T> for Vocab<T> {
    fn from(value: T) -> Self {
        Vocab::Known(value)
    }
}

impl<T: Vocabulary> Type for Vocab<T> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        Cow::Borrowed(T::NAME)
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference(T::NAME.to_owned())
    }

    fn register(registry: &mut Registry) {
        registry.create_schema::<Self, _>(T::NAME.to_owned(), |_| MetaSchema {
            enum_items: T::values()
                .iter()
                .map(|v| Value::String(v.text().to_owned()))
                .collect(),
            ..MetaSchema::new("string")
        });
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<T: Vocabulary> ParseFromJSON for Vocab<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(raw) => Ok(Self::from_text(&raw)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl<T: Vocabulary> ParseFromParameter for Vocab<T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(Self::from_text(value))
    }
}

impl<T: Vocabulary> ToJSON for Vocab<T> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.text().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use courtyard_domain::tickets::Urgency;

    use super::*;

    #[test]
    fn known_values_parse_and_unknown_ones_are_a_field_error() {
        let known = Vocab::<Urgency>::parse_from_json(Some(Value::String("emergency".into())))
            .unwrap_or_else(|_| panic!("parses"));
        assert_eq!(known.get("urgency").ok(), Some(Urgency::Emergency));
        assert_eq!(known.to_json(), Some(Value::String("emergency".into())));
        let unknown = Vocab::<Urgency>::parse_from_json(Some(Value::String("soon".into())))
            .unwrap_or_else(|_| panic!("kept for the handler"));
        assert!(matches!(
            unknown.get("urgency"),
            Err(ApiError::Validation { .. })
        ));
        assert!(Vocab::<Urgency>::parse_from_json(Some(Value::from(3))).is_err());
    }
}
