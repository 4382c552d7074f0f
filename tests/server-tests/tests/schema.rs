//! The client's row type is the module's: [`GmStatsRow`] (what clients decode rows as) against
//! the schema the server publishes for `gm_stats_by_address` (`GET /schema?version=9`).
//!
//! Rows travel as BSATN, fields in declaration order and without names: a column added, removed,
//! reordered or retyped on one side only makes every row undecodable (or, worse, decode into the
//! wrong fields). This test fails first, naming the column.

use onepulse_gm_stats::{GmStatsRow, TABLE};
use serde_json::Value;
use stdb_client::spacetimedb_lib::db::raw_def::v9::{RawModuleDefV9, RawModuleDefV9Builder};
use stdb_client::spacetimedb_lib::sats::serde::SerdeWrapper;
use stdb_client::spacetimedb_lib::sats::typespace::Typespace;
use stdb_client::spacetimedb_lib::{AlgebraicType, SpacetimeType};
use test_kit::TestDb;

/// The column `GmStatsRow::primary_key` returns.
const KEY_COLUMN: &str = "address_chain";

/// One column: its name and its type, with type references inlined.
type Column = (String, AlgebraicType);

/// A table's row type as a list of columns, and its primary key's column names.
#[derive(Debug, Clone, PartialEq)]
struct TableShape {
    columns: Vec<Column>,
    primary_key: Vec<String>,
}

/// The shape of `table` in a module definition as the server publishes it (SATS' JSON of
/// `RawModuleDefV9`).
fn published_shape(schema: &Value, table: &str) -> Result<TableShape, String> {
    let SerdeWrapper(module): SerdeWrapper<RawModuleDefV9> =
        serde_json::from_value(schema.clone()).map_err(|e| format!("unreadable schema: {e}"))?;
    let table_def = module
        .tables
        .iter()
        .find(|t| &*t.name == table)
        .ok_or_else(|| format!("the schema has no table {table}"))?;
    let row_type = module
        .typespace
        .get(table_def.product_type_ref)
        .cloned()
        .ok_or_else(|| format!("{table}'s row type is not in the typespace"))?;
    let columns = columns(module.typespace.clone(), row_type)?;
    let primary_key = table_def
        .primary_key
        .iter()
        .map(|col| {
            columns
                .get(col.idx())
                .map(|(name, _)| name.clone())
                .ok_or_else(|| format!("primary key column {} does not exist", col.idx()))
        })
        .collect::<Result<_, _>>()?;
    Ok(TableShape {
        columns,
        primary_key,
    })
}

/// The shape `GmStatsRow`'s `SpacetimeType` derive gives its rows.
fn client_shape() -> Result<TableShape, String> {
    let mut builder = RawModuleDefV9Builder::new();
    let row_type = GmStatsRow::make_type(&mut builder);
    Ok(TableShape {
        columns: columns(builder.finish().typespace, row_type)?,
        primary_key: vec![KEY_COLUMN.to_owned()],
    })
}

/// The named columns of a product type.
fn columns(mut typespace: Typespace, mut row_type: AlgebraicType) -> Result<Vec<Column>, String> {
    typespace
        .inline_typerefs_in_type(&mut row_type)
        .map_err(|e| format!("unresolvable type: {e}"))?;
    let product = row_type
        .into_product()
        .map_err(|other| format!("a row type must be a product, not {other:?}"))?;
    product
        .elements
        .into_vec()
        .into_iter()
        .enumerate()
        .map(|(i, column)| match column.name {
            Some(name) => Ok((name.into(), column.algebraic_type)),
            None => Err(format!("column {i} has no name")),
        })
        .collect()
}

/// How `module` differs from `client`, one line per difference; empty when they agree.
fn drift(client: &TableShape, module: &TableShape) -> Vec<String> {
    let mut differences = Vec::new();
    let width = client.columns.len().max(module.columns.len());
    for i in 0..width {
        match (client.columns.get(i), module.columns.get(i)) {
            (Some((name, ty)), Some((module_name, module_ty))) => {
                if name != module_name {
                    differences.push(format!(
                        "column {i}: the client has {name}, the module {module_name}"
                    ));
                } else if ty != module_ty {
                    differences.push(format!(
                        "column {i} ({name}): the client's type is {ty:?}, the module's {module_ty:?}"
                    ));
                }
            }
            (Some((name, _)), None) => {
                differences.push(format!("column {i} ({name}) is missing from the module"));
            }
            (None, Some((name, _))) => {
                differences.push(format!("column {i} ({name}) is missing from the client"));
            }
            (None, None) => {}
        }
    }
    if client.primary_key != module.primary_key {
        differences.push(format!(
            "primary key: the client keys rows by {:?}, the module by {:?}",
            client.primary_key, module.primary_key
        ));
    }
    differences
}

#[test]
fn gm_stats_row_is_the_published_row_type() {
    let db = TestDb::from_env();
    let schema = db
        .api()
        .schema(db.database())
        .expect("GET /v1/database/:name/schema?version=9");
    let module = published_shape(&schema, TABLE).expect("the published table");
    let client = client_shape().expect("GmStatsRow's type");
    let differences = drift(&client, &module);
    assert!(
        differences.is_empty(),
        "GmStatsRow (crates/onepulse-gm-stats) and the module's {TABLE} \
         (spacetimedb-module/src/gm_stats.rs) differ:\n{}",
        differences.join("\n")
    );
    assert!(
        !module.columns.is_empty(),
        "the published table has columns"
    );
}

/// The comparison itself, without a server: schemas in the server's JSON format, made from
/// `GmStatsRow` and then deliberately altered.
mod comparison {
    use super::*;
    use serde_json::json;

    /// The schema a module whose table is exactly `GmStatsRow` publishes (SATS' JSON, as the
    /// server writes it).
    fn matching_schema() -> Value {
        let mut builder = RawModuleDefV9Builder::new();
        let row_type = GmStatsRow::make_type(&mut builder)
            .into_ref()
            .expect("a struct is registered by reference");
        let key = client_shape()
            .expect("GmStatsRow's type")
            .columns
            .iter()
            .position(|(name, _)| name == KEY_COLUMN)
            .expect("the key column exists");
        builder
            .build_table(TABLE, row_type)
            .with_primary_key(u16::try_from(key).expect("few columns"))
            .finish();
        serde_json::to_value(SerdeWrapper::new(builder.finish())).expect("serializable")
    }

    /// The table's column list inside `schema`.
    fn elements(schema: &mut Value) -> &mut Vec<Value> {
        let row_type = schema["tables"][0]["product_type_ref"]
            .as_u64()
            .expect("a type reference");
        schema["typespace"]["types"][row_type as usize]["Product"]["elements"]
            .as_array_mut()
            .expect("the row type is a product")
    }

    fn position(schema: &mut Value, column: &str) -> usize {
        elements(schema)
            .iter()
            .position(|e| e["name"]["some"] == column)
            .expect("the column exists")
    }

    /// The differences `alter` makes.
    fn drift_after(alter: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut schema = matching_schema();
        alter(&mut schema);
        let module = published_shape(&schema, TABLE).expect("a readable schema");
        drift(&client_shape().expect("GmStatsRow's type"), &module)
    }

    fn assert_reported(differences: &[String], expected: &str) {
        assert!(
            differences.iter().any(|d| d.contains(expected)),
            "expected a difference mentioning {expected:?}, got {differences:?}"
        );
    }

    #[test]
    fn the_same_row_type_has_no_drift() {
        let schema = matching_schema();
        let module = published_shape(&schema, TABLE).expect("a readable schema");
        assert_eq!(module.columns.len(), 12);
        assert_eq!(module.primary_key, [KEY_COLUMN]);
        assert_eq!(
            drift(&client_shape().unwrap(), &module),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_renamed_column_is_drift() {
        let differences = drift_after(|schema| {
            let fid = position(schema, "fid");
            elements(schema)[fid]["name"] = json!({ "some": "farcaster_id" });
        });
        assert_reported(&differences, "the client has fid, the module farcaster_id");
    }

    #[test]
    fn a_retyped_column_is_drift() {
        let differences = drift_after(|schema| {
            let chain = position(schema, "chain_id");
            elements(schema)[chain]["algebraic_type"] = json!({ "I64": [] });
        });
        assert_reported(&differences, "(chain_id): the client's type is I32");
    }

    #[test]
    fn a_retyped_optional_column_is_drift() {
        let differences = drift_after(|schema| {
            let fid = position(schema, "fid");
            elements(schema)[fid]["algebraic_type"]["Sum"]["variants"][0]["algebraic_type"] =
                json!({ "I32": [] });
        });
        assert_reported(&differences, "(fid)");
    }

    #[test]
    fn swapped_columns_are_drift() {
        let differences = drift_after(|schema| {
            let current = position(schema, "current_streak");
            let highest = position(schema, "highest_streak");
            elements(schema).swap(current, highest);
        });
        assert_reported(&differences, "the client has current_streak");
        assert_reported(&differences, "the client has highest_streak");
    }

    #[test]
    fn a_column_added_or_removed_on_one_side_is_drift() {
        let added = drift_after(|schema| {
            elements(schema).push(json!({
                "name": { "some": "streak_freezes" },
                "algebraic_type": { "I32": [] },
            }));
        });
        assert_reported(&added, "(streak_freezes) is missing from the client");
        let removed = drift_after(|schema| {
            elements(schema).pop();
        });
        assert_reported(&removed, "(updated_at) is missing from the module");
    }

    #[test]
    fn another_primary_key_is_drift() {
        let differences = drift_after(|schema| {
            schema["tables"][0]["primary_key"] = json!([1]);
        });
        assert_reported(&differences, "primary key");
    }

    #[test]
    fn a_missing_table_is_an_error() {
        let schema = matching_schema();
        let error = published_shape(&schema, "gm_stats").unwrap_err();
        assert!(error.contains("no table gm_stats"), "{error}");
    }
}
