//! How a target's inputs are made: a real sample or a generated shape, mutated as a tree,
//! written as JSON text or flattened to form pairs and mutated again, rarely bytes at the
//! end; each input a function of (seed, index) alone.

use crate::fuzzer::Fuzzer;
use crate::rng::Gen;
use crate::shapes::{amocrm, bitrix24, jivo, tracker, verbox};
use crate::targets::{Shape, Target};
use crate::{bytes, emit, form, mutate};
use serde_json::Value;

impl Fuzzer {
    /// Input `index` of the run with `seed`, made on its own.
    pub fn input(&self, seed: u64, index: u64) -> Vec<u8> {
        let g = &mut Gen::new(seed, index);
        if g.chance(0.02) {
            return bytes::junk(g);
        }
        if g.chance(0.03) {
            return g.pick(&self.samples.bytes).to_vec();
        }
        let mut body = match self.target {
            Target::Jivo => self.json(g, jivo::VOCAB, jivo::event),
            Target::Verbox => {
                let shape: Shape = if g.chance(0.7) {
                    verbox::dialog
                } else {
                    verbox::offline
                };
                match g.chance(0.25) {
                    true => self.form(g, verbox::VOCAB, shape),
                    false => self.json(g, verbox::VOCAB, shape),
                }
            }
            Target::Amocrm => self.form(g, amocrm::VOCAB, amocrm::hook),
            Target::Bitrix24 => self.form(g, bitrix24::VOCAB, bitrix24::event),
            Target::Form => match g.below(3) {
                0 => self.form(g, amocrm::VOCAB, amocrm::hook),
                1 => self.form(g, bitrix24::VOCAB, bitrix24::event),
                _ => self.form(g, verbox::VOCAB, verbox::dialog),
            },
            Target::Tracker => self.json(g, tracker::VOCAB, tracker::page_view),
        };
        if g.chance(0.08) {
            bytes::havoc(g, &mut body);
        }
        body
    }

    /// A sample or a generated shape, most often mutated as a tree.
    fn tree(&self, g: &mut Gen, vocab: &[&str], shape: Shape) -> Value {
        let trees = &self.samples.trees;
        let mut tree = match !trees.is_empty() && g.chance(0.4) {
            true => g.pick(trees).clone(),
            false => shape(g),
        };
        if g.chance(0.8) {
            mutate::mutate(g, &mut tree, vocab, trees);
        }
        tree
    }

    fn json(&self, g: &mut Gen, vocab: &[&str], shape: Shape) -> Vec<u8> {
        let tree = self.tree(g, vocab, shape);
        emit::emit(g, &tree)
    }

    fn form(&self, g: &mut Gen, vocab: &[&str], shape: Shape) -> Vec<u8> {
        let pairs = &self.samples.pairs;
        let mut pairs = match !pairs.is_empty() && g.chance(0.3) {
            true => g.pick(pairs).clone(),
            false => {
                let tree = self.tree(g, vocab, shape);
                form::flatten(g, &tree)
            }
        };
        if g.chance(0.7) {
            form::mutate(g, &mut pairs, vocab);
        }
        form::encode(g, &pairs)
    }
}
