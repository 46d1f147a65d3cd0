//! Design tokens: every colour and radius the apps use, by what it means.
#![allow(clippy::disallowed_methods)] // the one place colours are made

use egui::Color32;

/// Ink of drawings shown on [`PAPER`] (thumbnails, detail views, comparisons).
pub const INK: Color32 = Color32::from_rgb(0x20, 0x24, 0x2c);
/// Ink on the drawing canvas and on [`SHEET`] previews.
pub const CANVAS_INK: Color32 = Color32::from_rgb(0x1d, 0x23, 0x33);
/// Background of a card holding a drawing.
pub const PAPER: Color32 = Color32::from_rgb(0xfa, 0xfa, 0xf7);
/// Background of the canvas and of drawing previews.
pub const SHEET: Color32 = Color32::WHITE;
/// Background of a selected card.
pub const SELECTED: Color32 = Color32::from_rgb(0xd6, 0xe6, 0xfa);
/// Errors and failed states.
pub const ERROR: Color32 = Color32::from_rgb(0xc0, 0x20, 0x20);
/// Success and completed states.
pub const SUCCESS: Color32 = Color32::from_rgb(0x2a, 0x8a, 0x3a);
/// Warnings.
pub const WARNING: Color32 = Color32::from_rgb(0xa0, 0x70, 0x00);
/// The primary series and running states; the outline of a hovered card.
pub const PRIMARY: Color32 = Color32::from_rgb(0x3b, 0x82, 0xc4);
/// The second series: flagged drawings, wrong answers; the outline of a flagged card.
pub const FLAGGED: Color32 = Color32::from_rgb(0xd0, 0x4a, 0x3a);
/// Right answers (the confusion matrix's diagonal).
pub const CORRECT: Color32 = Color32::from_rgb(0x2e, 0x9d, 0x5b);
/// Text on a strongly coloured cell.
pub const ON_COLOUR: Color32 = Color32::WHITE;
/// Text on a pale cell.
pub const ON_PALE: Color32 = Color32::BLACK;
/// Nothing: the start of a colour ramp.
pub const TRANSPARENT: Color32 = Color32::TRANSPARENT;
/// Outline of a card.
pub const CARD_BORDER: Color32 = Color32::from_gray(200);
/// Outline of the canvas.
pub const CANVAS_BORDER: Color32 = Color32::from_gray(170);
/// Hint text on an empty canvas.
pub const HINT: Color32 = Color32::from_gray(150);

/// Corner radius of cards and previews, points.
pub const CARD_ROUNDING: f32 = 4.0;
/// Corner radius of the canvas, points.
pub const CANVAS_ROUNDING: f32 = 6.0;
