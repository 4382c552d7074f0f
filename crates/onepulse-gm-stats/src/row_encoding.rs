//! How a [`GmStatsRow`] is encoded: the module's twelve columns, in order.

use crate::{AddressChain, AddressText, GmStatsRow, ProfileColumns, TxHashText};
use stdb_client::Timestamp;
use stdb_client::spacetimedb_lib::{
    AlgebraicType, SpacetimeType,
    de::{Deserialize, Deserializer},
    sats::typespace::TypespaceBuilder,
    ser::{Serialize, SerializeNamedProduct, Serializer},
};

/// The module's row, column for column: what a [`GmStatsRow`] decodes from and encodes as.
/// The row keeps the rarely filled columns behind pointers; this type is only the decoder's
/// way in, and never kept.
#[derive(SpacetimeType)]
#[sats(crate = stdb_client::spacetimedb_lib, name = "GmStatsRow")]
struct ModuleRow {
    address_chain: AddressChain,
    address: AddressText,
    chain_id: i32,
    current_streak: i32,
    highest_streak: i32,
    all_time_gm_count: i32,
    last_gm_day: i32,
    last_tx_hash: Option<TxHashText>,
    fid: Option<i64>,
    display_name: Option<String>,
    username: Option<String>,
    updated_at: Timestamp,
}

impl From<ModuleRow> for GmStatsRow {
    fn from(row: ModuleRow) -> Self {
        Self {
            address_chain: row.address_chain,
            address: row.address,
            chain_id: row.chain_id,
            current_streak: row.current_streak,
            highest_streak: row.highest_streak,
            all_time_gm_count: row.all_time_gm_count,
            last_gm_day: row.last_gm_day,
            last_tx_hash: row.last_tx_hash,
            profile: ProfileColumns::new(row.fid, row.display_name, row.username),
            updated_at: row.updated_at,
        }
    }
}

impl SpacetimeType for GmStatsRow {
    fn make_type<S: TypespaceBuilder>(typespace: &mut S) -> AlgebraicType {
        ModuleRow::make_type(typespace)
    }
}

impl<'de> Deserialize<'de> for GmStatsRow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ModuleRow::deserialize(deserializer).map(Self::from)
    }
}

impl Serialize for GmStatsRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut row = serializer.serialize_named_product(12)?;
        row.serialize_element(Some("address_chain"), &self.address_chain)?;
        row.serialize_element(Some("address"), &self.address)?;
        row.serialize_element(Some("chain_id"), &self.chain_id)?;
        row.serialize_element(Some("current_streak"), &self.current_streak)?;
        row.serialize_element(Some("highest_streak"), &self.highest_streak)?;
        row.serialize_element(Some("all_time_gm_count"), &self.all_time_gm_count)?;
        row.serialize_element(Some("last_gm_day"), &self.last_gm_day)?;
        row.serialize_element(Some("last_tx_hash"), &self.last_tx_hash)?;
        row.serialize_element(Some("fid"), &self.profile.fid())?;
        row.serialize_element(Some("display_name"), &self.profile.display_name())?;
        row.serialize_element(Some("username"), &self.profile.username())?;
        row.serialize_element(Some("updated_at"), &self.updated_at)?;
        row.end()
    }
}
