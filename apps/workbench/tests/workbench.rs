//! The real workbench driven through egui_kittest (rendered with wgpu; Mesa's software
//! Vulkan where there is no GPU), with a recognizer trained by this test from the real
//! drawings in ../shared/data, against a real in-process `inkset-server`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotOptions};
use inkset_model::artifact;
use inkset_model::backend::Backend;
use inkset_model::dataset::Dataset;
use inkset_model::pipeline::train_recognizer;
use inkset_model::training::{Control, TrainConfig};
use inkset_protocol::quickdraw::Record;
use inkset_server::testing::{Storage, TestServer};
use inkset_workbench::{Options, Workbench};

const SHAPES: [&str; 5] = ["line", "heart", "circle", "square", "triangle"];

/// A small recognizer trained from ../shared/data once per build directory (kept under
/// `CARGO_TARGET_TMPDIR`, retrained when its files are missing).
fn fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("workbench-fixture-v1");
        if artifact::load(&dir, &Backend::Cpu.device()).is_ok() {
            return dir;
        }
        let shapes: Vec<String> = SHAPES.iter().map(|s| (*s).to_owned()).collect();
        let data = [
            inkset_testkit::shared_data().join("quickdraw/raw"),
            inkset_testkit::shared_data().join("derived"),
        ];
        let ds = Dataset::load(
            &inkset_protocol::quickdraw::ndjson_files(&data).unwrap(),
            &shapes,
            true,
        )
        .unwrap();
        let config = TrainConfig {
            epochs: 3,
            channels: [8, 16, 32],
            hidden: 64,
            ..TrainConfig::default()
        };
        let (manifest, model) = train_recognizer(
            &ds,
            &config,
            vec![
                "../shared/data/quickdraw/raw".into(),
                "../shared/data/derived".into(),
            ],
            Backend::Cpu,
            |_| Control::Continue,
        )
        .unwrap();
        let tmp = dir.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        artifact::save(&tmp, manifest, &model).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir).unwrap();
        dir
    })
}

fn harness(app: Workbench) -> Harness<'static, Workbench> {
    Harness::builder()
        .with_size([1280.0, 900.0])
        .wgpu()
        .build_ui_state(|ui, app: &mut Workbench| app.show(ui), app)
}

/// Steps the UI until `done` holds (background work reports through the inbox).
fn wait(
    h: &mut Harness<'_, Workbench>,
    what: &str,
    limit: Duration,
    done: impl Fn(&Harness<'_, Workbench>) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h) {
            h.run_steps(2);
            return;
        }
        assert!(
            start.elapsed() < limit,
            "timed out waiting for {what}; error line: {:?}",
            h.state().error()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn has_label(h: &Harness<'_, Workbench>, text: &str) -> bool {
    h.query_by_label_contains(text).is_some()
}

/// Focuses a text field found by role and label, then types into it.
fn type_into(h: &mut Harness<'_, Workbench>, role: Role, label: &str, text: &str) {
    h.get_by_role_and_label(role, label).focus();
    h.run_steps(2);
    h.get_by_role_and_label(role, label).type_text(text);
    h.run_steps(2);
}

fn click(h: &mut Harness<'_, Workbench>, label: &str) {
    h.get_by_label(label).click();
    h.run_steps(2);
}

/// Draws a circle on the canvas with pointer events, a few per frame.
fn draw_circle(h: &mut Harness<'_, Workbench>) {
    let rect = h.get_by_label("Drawing canvas").rect();
    let c = rect.center();
    let r = rect.width().min(rect.height()) * 0.35;
    let at = |u: f32| {
        let a = u * std::f32::consts::TAU;
        egui::pos2(c.x + r * a.cos(), c.y + r * a.sin())
    };
    h.hover_at(at(0.0));
    h.step();
    h.drag_at(at(0.0));
    h.step();
    for i in 1..=40 {
        h.hover_at(at(i as f32 / 40.0));
        if i % 4 == 0 {
            h.step();
        }
    }
    h.drop_at(at(1.0));
    h.step();
}

fn snapshot(h: &mut Harness<'_, Workbench>, name: &str, volatile: &[&str]) {
    h.remove_cursor();
    h.run_steps(2);
    let rects: Vec<egui::Rect> = volatile
        .iter()
        .flat_map(|v| {
            h.query_all_by_label_contains(v)
                .map(|n| n.rect())
                .collect::<Vec<_>>()
        })
        .collect();
    // To the window's right edge: a volatile text's width varies with its value (a rate of
    // 995 or 1,003 drawings/s), and a mask as wide as the text would vary with it.
    let right = h.ctx.content_rect().right();
    for r in rects {
        h.mask(egui::Rect::from_min_max(r.min, egui::pos2(right, r.max.y)).expand(2.0));
    }
    h.snapshot_options(name, &SnapshotOptions::new().max_failed_pixels(40));
}

fn options(cache: &Path, model: Option<PathBuf>, backend: Backend) -> Options {
    options_for("http://127.0.0.1:9", cache, model, backend)
}

fn options_for(server: &str, cache: &Path, model: Option<PathBuf>, backend: Backend) -> Options {
    Options {
        cache_dir: cache.to_path_buf(),
        server: server.into(),
        model,
        backend,
    }
}

#[test]
fn draws_a_circle_sees_circle_switches_backends_and_checks_parity() {
    let cache = tempfile::tempdir().unwrap();
    let app = Workbench::new(options(
        cache.path(),
        Some(fixture().to_path_buf()),
        Backend::Cpu,
    ));
    let mut h = harness(app);
    wait(&mut h, "the model to load", Duration::from_secs(60), |h| {
        h.state().loaded().is_some()
    });
    assert!(has_label(&h, "Running on CPU"));
    assert!(
        has_label(&h, "circle, square, triangle"),
        "manifest classes shown"
    );
    // Paths, hashes and the adapter differ between machines.
    let m = h.state().loaded().unwrap().manifest.clone();
    let (weights, ids) = (m.weights_sha256.clone(), m.data.key_ids_sha256.clone());
    snapshot(
        &mut h,
        "workbench_model",
        &[
            "origin",
            "/",
            "sha256",
            &weights,
            &ids,
            "Running on",
            "loaded on",
            "cached",
            "epochs",
            "Artifact directory",
        ],
    );

    click(&mut h, "Draw");
    draw_circle(&mut h);
    wait(&mut h, "a classification", Duration::from_secs(60), |h| {
        h.state().classification().is_some() && !h.state().busy()
    });
    let c = h.state().classification().unwrap().clone();
    assert_eq!(
        c.decision.label, "circle",
        "probabilities {:?}",
        c.probabilities
    );
    assert!(has_label(&h, "Answer: circle"));
    assert!(has_label(&h, "1. circle"), "circle's bar is on top");
    assert_eq!(c.raster.len(), 32 * 32);
    snapshot(
        &mut h,
        "workbench_draw",
        &["rasterize", "Answer", ". ", "loaded on", "CPU ("],
    );

    // More warm calls: undo and redraw.
    for _ in 0..3 {
        click(&mut h, "Undo stroke");
        draw_circle(&mut h);
        wait(&mut h, "a classification", Duration::from_secs(60), |h| {
            !h.state().busy() && h.state().classification().is_some()
        });
    }
    click(&mut h, "Latency");
    assert!(has_label(&h, "Cold (first call after loading)"));
    assert!(!has_label(&h, "Warm calls: 0"), "warm calls were recorded");

    // The benchmark on the CPU.
    h.get_by_role_and_label(Role::Button, "Run benchmark")
        .click();
    wait(&mut h, "the benchmark", Duration::from_secs(300), |h| {
        has_label(h, "drawings/s") && !h.state().busy()
    });

    // wgpu: the same drawing, then the parity check on it and the reference shapes.
    click(&mut h, "Model");
    h.get_by_role_and_label(Role::RadioButton, "wgpu").click();
    wait(
        &mut h,
        "the switch to wgpu",
        Duration::from_secs(600),
        |h| {
            h.state()
                .loaded()
                .is_some_and(|l| l.backend == Backend::Wgpu)
                && !h.state().busy()
        },
    );
    assert!(has_label(&h, "Running on wgpu"));
    wait(
        &mut h,
        "a classification on wgpu",
        Duration::from_secs(900),
        |h| h.state().classification().is_some() && !h.state().busy(),
    );
    assert_eq!(h.state().classification().unwrap().decision.label, "circle");
    click(&mut h, "Latency");
    h.get_by_role_and_label(Role::Button, "Run parity check")
        .click();
    wait(&mut h, "the parity check", Duration::from_secs(900), |h| {
        h.state().parity().is_some()
    });
    let p = h.state().parity().unwrap().clone();
    assert_eq!(p.count, 6, "the canvas and five reference shapes");
    assert_eq!(p.same_answer, p.count);
    assert!(p.max_abs_diff < 1e-4, "{p:?}");
    assert!(has_label(&h, "same answer on 6"));
}

fn trainer_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join(format!("inkset-trainer{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "inkset-trainer", "--bin", "inkset-trainer"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    bin
}

#[test]
fn batch_evaluation_equals_inkset_trainer_evaluate() {
    let data = inkset_testkit::shared_data().join("quickdraw");
    let out = std::process::Command::new(trainer_binary())
        .arg("evaluate")
        .arg("--model")
        .arg(fixture())
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();

    let cache = tempfile::tempdir().unwrap();
    let app = Workbench::new(options(
        cache.path(),
        Some(fixture().to_path_buf()),
        Backend::Cpu,
    ));
    let mut h = harness(app);
    wait(&mut h, "the model to load", Duration::from_secs(60), |h| {
        h.state().loaded().is_some()
    });
    click(&mut h, "Evaluate");
    type_into(
        &mut h,
        Role::MultilineTextInput,
        "Data files or folders:",
        &data.display().to_string(),
    );
    h.get_by_role_and_label(Role::Button, "Run evaluation")
        .click();
    wait(&mut h, "the evaluation", Duration::from_secs(300), |h| {
        h.state().evaluation().is_some()
    });
    let e = h.state().evaluation().unwrap().evaluation.clone();

    // The same text `inkset-trainer evaluate` prints, from the workbench's numbers.
    let mut mine = format!("accuracy {:.4} on {} drawings\n", e.accuracy, e.count);
    mine.push_str(&format!(
        "{:<10} {:>9} {:>9} {:>8}\n",
        "class", "precision", "recall", "support"
    ));
    for c in &e.per_class {
        mine.push_str(&format!(
            "{:<10} {:>9.4} {:>9.4} {:>8}\n",
            c.class, c.precision, c.recall, c.support
        ));
    }
    mine.push_str("confusion (rows: true, columns: predicted, in class order):\n");
    for row in &e.confusion {
        mine.push_str(&format!("  {row:?}\n"));
    }
    assert_eq!(mine, printed);
    assert!(e.count > 600, "every Quick, Draw! drawing: {}", e.count);
    assert!(has_label(
        &h,
        &format!(
            "Accuracy {:.2} % on {} drawings",
            e.accuracy * 100.0,
            e.count
        )
    ));

    // A misclassified drawing opens and is saved as a test case that reads back.
    let misses = h.state().evaluation().unwrap().misses.clone();
    assert_eq!(
        misses.len() as u64,
        e.count
            - e.confusion
                .iter()
                .enumerate()
                .map(|(i, r)| r[i])
                .sum::<u64>()
    );
    let first = misses.first().expect("a 3-epoch model gets some wrong");
    snapshot(&mut h, "workbench_evaluate", &["drawings/s", "Data files"]);
    let label = format!("#{} {} -> {}", first.index, first.truth, first.answer);
    h.get_by_role_and_label(Role::Button, &label).click();
    h.run_steps(3);
    assert!(has_label(&h, &format!("key_id {}", first.key_id)));
    h.get_by_role_and_label(Role::Button, "Save as test case")
        .click();
    h.run_steps(2);
    let path = cache
        .path()
        .join("test-cases")
        .join(format!("{}-{}.ndjson", first.word, first.key_id));
    let rec = Record::parse_line(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
    assert_eq!(rec.word, first.word);
    assert_eq!(rec.key_id, first.key_id);
    assert_eq!(rec.drawing.len(), first.lines.len());
}

/// A real `inkset-server` on a loopback port with one recognizer version registered through
/// the remote-trainer protocol (claim, upload weights, complete) using the fixture.
struct Server {
    rt: tokio::runtime::Runtime,
    base: String,
    server: Option<TestServer>,
}

impl Server {
    fn start() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let server = rt.block_on(TestServer::start_with(Storage::SqliteLocal, |settings| {
            settings.training.in_process = false;
        }));
        let me = Self {
            rt,
            base: server.base.clone(),
            server: Some(server),
        };
        me.rt.block_on(me.register_fixture());
        me
    }

    async fn register_fixture(&self) {
        let server = self.server.as_ref().unwrap();
        let http = server.client.clone();
        let token = server.admin("root", "correct horse battery").await;
        // The jobs's plan needs drawings: the simplified Quick, Draw! files.
        for file in inkset_protocol::quickdraw::ndjson_files(&[
            inkset_testkit::shared_data().join("quickdraw/simplified")
        ])
        .unwrap()
        {
            let r = http
                .post(format!("{}/api/admin/import", self.base))
                .bearer_auth(&token)
                .body(std::fs::read(&file).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        let worker: serde_json::Value = http
            .post(format!("{}/api/admin/worker-tokens", self.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "workbench-test"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = http
            .post(format!("{}/api/admin/training/start", self.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"config": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let client = inkset_worker::client(&self.base, worker["token"].as_str().unwrap()).unwrap();
        let job = client
            .claim("workbench-test", &inkset_worker::MODEL_KINDS)
            .await
            .unwrap()
            .unwrap();
        let dir = fixture();
        let manifest: artifact::Manifest =
            serde_json::from_slice(&std::fs::read(dir.join(artifact::MANIFEST)).unwrap()).unwrap();
        let weights = std::fs::read(dir.join(artifact::WEIGHTS)).unwrap();
        client.upload_weights(&job, weights).await.unwrap();
        let manifest = serde_json::to_value(&manifest).unwrap();
        let version = client.complete(&job, manifest).await.unwrap();
        assert_eq!(version.version, 1);

        // And a generator version, through a generator job.
        let r = http
            .post(format!("{}/api/admin/training/start", self.base))
            .bearer_auth(&token)
            .json(&serde_json::json!({"config": {"model_kind": "generator"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let job = client
            .claim("workbench-test", &inkset_worker::MODEL_KINDS)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.model_kind, "generator");
        let dir = generator_fixture();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(artifact::MANIFEST)).unwrap()).unwrap();
        let weights = std::fs::read(dir.join(artifact::WEIGHTS)).unwrap();
        client.upload_weights(&job, weights).await.unwrap();
        let version = client.complete(&job, manifest).await.unwrap();
        assert_eq!(
            (version.model_kind.as_str(), version.version),
            ("generator", 1)
        );
    }

    fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            self.rt.block_on(server.stop());
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn downloads_from_the_registry_then_works_with_the_server_stopped() {
    let mut server = Server::start();
    let cache = tempfile::tempdir().unwrap();
    let base = server.base.clone();
    let mut h = harness(Workbench::new(options_for(
        &base,
        cache.path(),
        None,
        Backend::Cpu,
    )));
    h.run_steps(2);

    // A wrong password is refused with a clear message.
    type_into(&mut h, Role::TextInput, "Username", "root");
    type_into(&mut h, Role::PasswordInput, "Password", "wrong");
    click(&mut h, "Sign in");
    wait(&mut h, "the refusal", Duration::from_secs(30), |h| {
        h.state().error().is_some()
    });
    assert!(
        h.state().error().unwrap().contains("not signed in"),
        "{:?}",
        h.state().error()
    );

    type_into(
        &mut h,
        Role::PasswordInput,
        "Password",
        "correct horse battery",
    );
    click(&mut h, "Sign in");
    wait(&mut h, "the version list", Duration::from_secs(30), |h| {
        has_label(h, "Download v1")
    });
    assert!(has_label(&h, "production"), "aliases shown");
    h.get_by_role_and_label(Role::Button, "Download v1").click();
    wait(
        &mut h,
        "the download and load",
        Duration::from_secs(60),
        |h| h.state().loaded().is_some() && !h.state().busy(),
    );
    let loaded = h.state().loaded().unwrap().clone();
    assert_eq!(loaded.manifest.version, 1);
    assert!(loaded.origin.contains(&server.base), "{}", loaded.origin);
    assert!(has_label(&h, "Load cached v1"));

    // The generator version, from the Generate tab.
    click(&mut h, "Generate");
    h.get_by_role_and_label(Role::Button, "Download generator v1 [production]")
        .click();
    wait(
        &mut h,
        "the generator download",
        Duration::from_secs(60),
        |h| h.state().generator().is_some() && !h.state().busy(),
    );
    click(&mut h, "Model");

    // The public production route finds the same version in the cache.
    h.get_by_role_and_label(Role::Button, "Production (no sign-in)")
        .click();
    wait(&mut h, "production", Duration::from_secs(60), |h| {
        !h.state().busy()
    });
    assert_eq!(h.state().error(), None);

    // Stop the server: a new workbench on the same cache still loads and classifies.
    server.stop();
    drop(h);
    let mut h = harness(Workbench::new(options_for(
        &base,
        cache.path(),
        None,
        Backend::Cpu,
    )));
    h.run_steps(2);
    h.get_by_role_and_label(Role::Button, "Load cached v1")
        .click();
    wait(&mut h, "the cached model", Duration::from_secs(60), |h| {
        h.state().loaded().is_some() && !h.state().busy()
    });
    click(&mut h, "Draw");
    draw_circle(&mut h);
    wait(&mut h, "a classification", Duration::from_secs(60), |h| {
        h.state().classification().is_some() && !h.state().busy()
    });
    assert_eq!(h.state().classification().unwrap().decision.label, "circle");
    click(&mut h, "Model");
    h.get_by_role_and_label(Role::Button, "Load cached generator v1")
        .click();
    wait(
        &mut h,
        "the cached generator",
        Duration::from_secs(60),
        |h| h.state().generator().is_some() && !h.state().busy(),
    );
    click(&mut h, "Generate");
    h.get_by_role_and_label(Role::Button, "Generate drawing")
        .click();
    wait(
        &mut h,
        "a generated drawing offline",
        Duration::from_secs(60),
        |h| {
            h.state()
                .generated()
                .is_some_and(|g| g.recognized.is_some())
                && !h.state().busy()
        },
    );

    // And says clearly that the server is gone.
    click(&mut h, "Model");
    click(&mut h, "Sign in");
    wait(&mut h, "the error", Duration::from_secs(30), |h| {
        h.state().error().is_some()
    });
    assert!(
        h.state().error().unwrap().contains("cannot reach"),
        "{:?}",
        h.state().error()
    );
}

/// A small generator trained from ../shared/data once per build directory.
fn generator_fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        use inkset_model::generator::{
            GeneratorTrainConfig, ShapeGenerator, train_generator_pipeline,
        };
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("workbench-generator-v1");
        if ShapeGenerator::load(&dir, Backend::Cpu.device()).is_ok() {
            return dir;
        }
        let shapes: Vec<String> = SHAPES.iter().map(|s| (*s).to_owned()).collect();
        let data = [
            inkset_testkit::shared_data().join("quickdraw/raw"),
            inkset_testkit::shared_data().join("derived"),
        ];
        let ds = Dataset::load(
            &inkset_protocol::quickdraw::ndjson_files(&data).unwrap(),
            &shapes,
            false,
        )
        .unwrap();
        let config = GeneratorTrainConfig {
            epochs: 3,
            hidden: 64,
            mixtures: 5,
            ..GeneratorTrainConfig::default()
        };
        let (manifest, model) =
            train_generator_pipeline(&ds, &config, vec!["test".into()], Backend::Cpu, |_, _| {
                Control::Continue
            })
            .unwrap();
        let tmp = dir.with_extension("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        ShapeGenerator::save(&tmp, manifest, &model).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir).unwrap();
        dir
    })
}

#[test]
fn generates_a_shape_replays_it_and_classifies_it() {
    let cache = tempfile::tempdir().unwrap();
    let app = Workbench::new(options(
        cache.path(),
        Some(fixture().to_path_buf()),
        Backend::Cpu,
    ));
    let mut h = harness(app);
    wait(&mut h, "the model to load", Duration::from_secs(60), |h| {
        h.state().loaded().is_some()
    });
    click(&mut h, "Generate");
    type_into(
        &mut h,
        Role::TextInput,
        "Generator directory",
        &generator_fixture().display().to_string(),
    );
    click(&mut h, "Load generator");
    wait(&mut h, "the generator", Duration::from_secs(60), |h| {
        h.state().generator().is_some() && !h.state().busy()
    });
    assert_eq!(
        h.state().generator().unwrap().manifest.classes,
        SHAPES.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()
    );
    h.get_by_role_and_label(Role::Button, "Generate drawing")
        .click();
    wait(&mut h, "a drawing", Duration::from_secs(60), |h| {
        h.state().generated().is_some() && !h.state().busy()
    });
    let first = h.state().generated().unwrap().clone();
    assert_eq!(first.shape, "line", "the first shape is preselected");
    assert!(first.lines.iter().map(Vec::len).sum::<usize>() >= 2);
    assert!(
        first
            .lines
            .iter()
            .flatten()
            .all(|p| (0.0..=255.0).contains(&p[0]) && (0.0..=255.0).contains(&p[1]))
    );
    let (label, p) = first.recognized.clone().expect("the recognizer answers");
    assert!((0.0..=1.0).contains(&p));
    assert!(has_label(&h, &format!("Recognizer says: {label}")));

    // The same seed draws the same strokes; the next seed another drawing.
    h.get_by_role_and_label(Role::Button, "Generate drawing")
        .click();
    wait(&mut h, "the same drawing", Duration::from_secs(60), |h| {
        !h.state().busy()
    });
    assert_eq!(h.state().generated().unwrap().lines, first.lines);
    h.get_by_role_and_label(Role::Button, "Next seed").click();
    wait(&mut h, "another drawing", Duration::from_secs(60), |h| {
        !h.state().busy() && h.state().generated().is_some_and(|g| g.seed == 1)
    });
    h.get_by_role_and_label(Role::Button, "Generate drawing")
        .click();
    wait(&mut h, "seed 1 again", Duration::from_secs(60), |h| {
        !h.state().busy()
    });
    // Replay to the end, then the snapshot.
    h.run_steps(40);
    snapshot(
        &mut h,
        "workbench_generate",
        // The generator's directory lies under the build's target directory.
        &[
            "sampled in",
            "generator v",
            "loaded on",
            "Generator directory",
        ],
    );
}

/// Touch and pen input: egui's touch events (with force as pressure) become one stroke with
/// pressure; the pointer events egui emulates for the same finger are not recorded twice.
#[test]
fn touch_strokes_keep_pressure_and_are_recorded_once() {
    let mut canvas = inkset_workbench::canvas::Canvas::default();
    let mut h = Harness::builder().with_size([400.0, 400.0]).build_ui_state(
        |ui, c: &mut inkset_workbench::canvas::Canvas| {
            c.show(ui, egui::vec2(300.0, 300.0));
        },
        std::mem::take(&mut canvas),
    );
    h.run_steps(2);
    let rect = h.get_by_label("Drawing canvas").rect();
    let touch = |phase, pos, force| egui::Event::Touch {
        device_id: egui::TouchDeviceId(1),
        id: egui::TouchId(7),
        phase,
        pos,
        force: Some(force),
    };
    let at = |k: f32| egui::pos2(rect.min.x + 20.0 + 10.0 * k, rect.min.y + 40.0 + 5.0 * k);
    h.event(touch(egui::TouchPhase::Start, at(0.0), 0.2));
    // What egui-winit adds for the first finger.
    h.event(egui::Event::PointerButton {
        pos: at(0.0),
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    h.step();
    for k in 1..=10 {
        h.event(touch(
            egui::TouchPhase::Move,
            at(k as f32),
            0.2 + 0.05 * k as f32,
        ));
        h.event(egui::Event::PointerMoved(at(k as f32)));
        h.step();
    }
    h.event(touch(egui::TouchPhase::End, at(10.0), 0.7));
    h.event(egui::Event::PointerButton {
        pos: at(10.0),
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.step();
    let c = h.state();
    let strokes: Vec<_> = c.strokes().collect();
    assert_eq!(strokes.len(), 1, "one stroke: {strokes:?}");
    let s = strokes[0];
    assert_eq!(s.pointer, inkset_workbench::canvas::Pointer::Touch);
    assert_eq!(s.points.len(), 11, "{:?}", s.points);
    assert_eq!(s.points[0].pressure, Some(0.2));
    assert!((s.points[10].pressure.unwrap() - 0.7).abs() < 1e-6);
    assert_eq!((s.points[0].x, s.points[0].y), (20.0, 40.0));
    assert!(s.points.windows(2).all(|w| w[1].t >= w[0].t));
}
