//! `pricing()`: the built-in pricing table.

use convoy_core::PricingTable;
use wasm_bindgen::prelude::*;

use crate::convert::to_js;
use crate::types::PricingJs;

/// The models convoy knows the price of, in USD per million tokens.
///
/// # Errors
///
/// Never in practice: every price is a plain number.
#[wasm_bindgen]
pub fn pricing() -> Result<PricingJs, JsError> {
    Ok(to_js(PricingTable::built_in().models())?.unchecked_into())
}
