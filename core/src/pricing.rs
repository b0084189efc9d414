//! Prices per model, as data, with user overrides.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::outcome::Usage;

/// The highest rate accepted, in USD per million tokens: a dollar a token, far above any
/// real price, low enough that no batch's cost overflows.
pub const MAX_PRICE_PER_MILLION: f64 = 1_000_000.0;

/// What one model costs, in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelPrice {
    /// Uncached input tokens.
    pub input_per_million: f64,
    /// Output tokens.
    pub output_per_million: f64,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write_per_million: f64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_per_million: f64,
    /// Fraction taken off by the provider's batch API (0.5 is half price).
    #[serde(default)]
    pub batch_discount: f64,
}

impl ModelPrice {
    /// A price with only input and output rates; cache rates follow the usual
    /// multiples (writes 1.25×, reads 0.1× the input rate) and the batch discount is 50%.
    pub const fn new(input_per_million: f64, output_per_million: f64) -> Self {
        Self {
            input_per_million,
            output_per_million,
            cache_write_per_million: input_per_million * 1.25,
            cache_read_per_million: input_per_million * 0.1,
            batch_discount: 0.5,
        }
    }

    /// What `usage` costs at this price.
    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.input_tokens as f64 * self.input_per_million
            + usage.output_tokens as f64 * self.output_per_million
            + usage.cache_write_tokens as f64 * self.cache_write_per_million
            + usage.cache_read_tokens as f64 * self.cache_read_per_million)
            / 1_000_000.0
    }

    /// What `input` and `output` tokens cost, without cache.
    pub fn cost_of(&self, input: f64, output: f64) -> f64 {
        (input * self.input_per_million + output * self.output_per_million) / 1_000_000.0
    }

    /// The first field out of range, with its value and what is accepted: rates go from
    /// 0 to [`MAX_PRICE_PER_MILLION`], the batch discount from 0 to 1.
    pub fn first_invalid(&self) -> Option<(&'static str, f64, &'static str)> {
        let rates = [
            ("input_per_million", self.input_per_million),
            ("output_per_million", self.output_per_million),
            ("cache_write_per_million", self.cache_write_per_million),
            ("cache_read_per_million", self.cache_read_per_million),
        ];
        let accepted = "0 to 1000000 USD per million tokens";
        rates
            .into_iter()
            .find(|(_, rate)| !(0.0..=MAX_PRICE_PER_MILLION).contains(rate))
            .map(|(field, rate)| (field, rate, accepted))
            .or_else(|| {
                let discount = self.batch_discount;
                (!(0.0..=1.0).contains(&discount)).then_some((
                    "batch_discount",
                    discount,
                    "a fraction from 0 to 1",
                ))
            })
    }
}

/// One row of the pricing table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedModel {
    /// The model's name as the provider spells it.
    pub model: String,
    /// The provider that serves it (`anthropic`, `openai`).
    pub provider: String,
    /// Its price.
    #[serde(flatten)]
    pub price: ModelPrice,
}

const BUILT_IN: [(&str, &str, ModelPrice); 8] = [
    ("claude-opus-4-5", "anthropic", ModelPrice::new(5.0, 25.0)),
    ("claude-sonnet-4-5", "anthropic", ModelPrice::new(3.0, 15.0)),
    ("claude-haiku-4-5", "anthropic", ModelPrice::new(1.0, 5.0)),
    ("gpt-4o", "openai", ModelPrice::new(2.5, 10.0)),
    ("gpt-4o-mini", "openai", ModelPrice::new(0.15, 0.6)),
    ("gpt-4.1", "openai", ModelPrice::new(2.0, 8.0)),
    ("gpt-5", "openai", ModelPrice::new(1.25, 10.0)),
    ("gpt-5-mini", "openai", ModelPrice::new(0.25, 2.0)),
];

/// The prices convoy knows, which users may extend or override.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PricingTable {
    models: Vec<PricedModel>,
}

impl Default for PricingTable {
    fn default() -> Self {
        Self::built_in()
    }
}

impl PricingTable {
    /// The built-in table.
    pub fn built_in() -> Self {
        let models = BUILT_IN
            .iter()
            .map(|(model, provider, price)| PricedModel {
                model: (*model).into(),
                provider: (*provider).into(),
                price: *price,
            })
            .collect();
        Self { models }
    }

    /// Every priced model.
    pub fn models(&self) -> &[PricedModel] {
        &self.models
    }

    /// The price of `model`, if the table has it.
    pub fn price(&self, model: &str) -> Option<ModelPrice> {
        self.models
            .iter()
            .find(|row| row.model == model)
            .map(|row| row.price)
    }

    /// Adds `model` or replaces its price.
    pub fn set(&mut self, model: &str, provider: &str, price: ModelPrice) {
        match self.models.iter_mut().find(|row| row.model == model) {
            Some(row) => row.price = price,
            None => self.models.push(PricedModel {
                model: (*model).into(),
                provider: (*provider).into(),
                price,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sonnet_costs_three_and_fifteen_dollars_per_million() {
        let price = PricingTable::built_in().price("claude-sonnet-4-5").unwrap();
        let cost = price.cost(&Usage::new(1_000_000, 1_000_000));
        assert!((cost - 18.0).abs() < 1e-9);
    }

    #[test]
    fn overrides_replace_the_built_in_price() {
        let mut table = PricingTable::built_in();
        table.set("gpt-4o", "openai", ModelPrice::new(1.0, 1.0));
        assert_eq!(table.price("gpt-4o").unwrap().output_per_million, 1.0);
        assert_eq!(table.price("unheard-of"), None);
    }
}
