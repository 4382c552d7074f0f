//! What [`crate::HexText`] and [`crate::AddressChain`] share: a string column kept in a
//! compact form and seen as its text through `with_text`.

use std::marker::PhantomData;
use stdb_client::spacetimedb_lib::de::{self, SliceVisitor};

/// Implements, for a type with `with_text(&self, f)` and `From<&str>`, everything that makes
/// it behave as the string it stands for: `Display`, `Debug` (as the quoted string),
/// `PartialEq` with `str`, `&str` and `String`, and SATS `SpacetimeType`, `Serialize` and
/// `Deserialize` as a string column (so a row encodes back to the bytes it came as).
macro_rules! text_column {
    ([$($generics:tt)*] $ty:ty) => {
        impl<$($generics)*> std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.with_text(|text| f.write_str(text))
            }
        }

        impl<$($generics)*> std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.with_text(|text| std::fmt::Debug::fmt(text, f))
            }
        }

        impl<$($generics)*> PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.with_text(|text| text == other)
            }
        }

        impl<$($generics)*> PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self == *other
            }
        }

        impl<$($generics)*> PartialEq<String> for $ty {
            fn eq(&self, other: &String) -> bool {
                self == other.as_str()
            }
        }

        impl<$($generics)*> stdb_client::spacetimedb_lib::SpacetimeType for $ty {
            fn make_type<S: stdb_client::spacetimedb_lib::sats::typespace::TypespaceBuilder>(
                _: &mut S,
            ) -> stdb_client::spacetimedb_lib::AlgebraicType {
                stdb_client::spacetimedb_lib::AlgebraicType::String
            }
        }

        impl<$($generics)*> stdb_client::spacetimedb_lib::ser::Serialize for $ty {
            fn serialize<S: stdb_client::spacetimedb_lib::ser::Serializer>(
                &self,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                self.with_text(|text| serializer.serialize_str(text))
            }
        }

        impl<'de, $($generics)*> stdb_client::spacetimedb_lib::de::Deserialize<'de> for $ty {
            fn deserialize<D: stdb_client::spacetimedb_lib::de::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                deserializer.deserialize_str(crate::text_column::FromText::<Self>::default())
            }
        }
    };
}

pub(crate) use text_column;

/// Reads a text column's value from a string without copying the string first.
pub(crate) struct FromText<T>(PhantomData<T>);

impl<T> Default for FromText<T> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T: for<'t> From<&'t str>> SliceVisitor<'_, str> for FromText<T> {
    type Output = T;

    fn visit<E: de::Error>(self, text: &str) -> Result<T, E> {
        Ok(T::from(text))
    }
}
