//! The key/value grid of detail views: a two-column, striped [`egui::Grid`].

/// A two-column key/value grid with id `id`; `rows` adds rows with [`Rows::row`].
pub fn grid(ui: &mut egui::Ui, id: &str, rows: impl FnOnce(&mut Rows<'_>)) {
    egui::Grid::new(id)
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| rows(&mut Rows { ui }));
}

/// Adds rows to a [`grid`].
pub struct Rows<'a> {
    ui: &'a mut egui::Ui,
}

impl Rows<'_> {
    /// One row: `key`, then `value`.
    pub fn row(&mut self, key: &str, value: impl Into<String>) {
        self.ui.label(key);
        self.ui.label(value.into());
        self.ui.end_row();
    }

    /// The grid's `Ui`, for a row of other widgets (end it with `end_row`).
    pub fn ui(&mut self) -> &mut egui::Ui {
        self.ui
    }
}
