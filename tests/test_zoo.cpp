// The model zoo: spectral norm, class conditioning (concat, projection, AC), upsample generators, channel
// multipliers, sigmoid output, feature matching, and every architecture x loss x conditioning x norm together.
#include <gtest/gtest.h>

#include <filesystem>

#include "ganpp/checkpoint.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/image.hpp"
#include "ganpp/layers.hpp"
#include "ganpp/losses.hpp"
#include "ganpp/sample.hpp"
#include "ganpp/trainer.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
namespace nn = torch::nn;
using namespace ganpp;
using namespace ganpp::test;

namespace {

class ZooTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

double largest_singular_value(const torch::Tensor& w, int64_t out_dim) {
  return at::linalg_svdvals(w.detach().movedim(out_dim, 0).flatten(1).to(torch::kFloat64))[0].item<double>();
}

Config conditional(Config c, const std::string& conditioning, int64_t classes = 3) {
  c.model.conditional = true;
  c.model.num_classes = classes;
  c.model.d.conditioning = parse_choice<Conditioning>(conditioning).value();
  return c;
}

// ---- spectral norm ----

TEST_F(ZooTest, SpectralNormSigmaOfTheNormalisedWeightConvergesToOne) {
  const std::vector<std::pair<std::string, SpectralNorm>> layers = {
      {"linear", SpectralNorm(nn::Linear(12, 5), 0)},
      {"conv", SpectralNorm(nn::Conv2d(nn::Conv2dOptions(3, 6, 3)), 0)},
      {"deconv", SpectralNorm(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(6, 3, 4)), 1)}};
  for (auto [name, sn] : layers) {
    const int64_t out_dim = name == "deconv" ? 1 : 0;
    // A fresh random u underestimates σ(W): W/σ̂ has a spectral norm above 1 before iterating.
    const double before = largest_singular_value(sn->normalized_weight(), out_dim);
    EXPECT_GT(before, 1.0 + 1e-3) << name;
    for (int i = 0; i < 50; ++i) sn->power_iteration();
    EXPECT_NEAR(largest_singular_value(sn->normalized_weight(), out_dim), 1.0, 1e-4) << name;
  }
}

TEST_F(ZooTest, SpectralNormIteratesOncePerTrainingForwardAndNeverInEvalMode) {
  SpectralNorm sn(nn::Linear(6, 4), 0);
  const auto x = torch::randn({3, 6});
  const auto u0 = sn->u().clone();
  sn->eval();
  const auto y = sn->forward(x);
  EXPECT_TRUE(torch::equal(sn->u(), u0));
  // In eval mode the output is the layer with W/σ, σ = uᵀWv from the stored vectors.
  auto* linear = sn->named_children()["layer"]->as<nn::Linear>();
  EXPECT_TRUE(torch::allclose(y, torch::nn::functional::linear(x, sn->normalized_weight(), linear->bias)));
  sn->train();
  sn->forward(x);
  EXPECT_FALSE(torch::equal(sn->u(), u0));
  // The optimiser sees the original weight and the bias; u and v are buffers (saved in checkpoints).
  EXPECT_EQ(sn->parameters().size(), 2u);
  EXPECT_EQ(sn->named_buffers().size(), 2u);
  EXPECT_TRUE(sn->named_buffers().contains("u"));
  EXPECT_TRUE(sn->named_parameters().contains("layer.weight"));
  EXPECT_TRUE(torch::equal(linear->weight, sn->named_parameters()["layer.weight"]));  // restored after forward
}

TEST_F(ZooTest, SpectralNormWorksWithTheGradientPenaltysDoubleBackward) {
  Config c = tiny_config("dcgan", "wgan-gp");
  c.model.d.spectral_norm = true;
  Networks nets = build_networks(c);
  const auto real = torch::rand({4, 1, 16, 16}) * 2 - 1, fake = torch::rand({4, 1, 16, 16}) * 2 - 1;
  const auto gp = gradient_penalty(*nets.d, real, fake);
  gp.backward();
  int weights = 0;
  for (const auto& p : nets.d->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(p.value().grad().isfinite().all().item<bool>()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
    weights += contains(p.key(), "layer.weight");
  }
  EXPECT_EQ(weights, 3);  // two strided convs and the score conv, all normalised
}

// ---- conditioning ----

TEST_F(ZooTest, ConditionalGeneratorFollowsTheLabelAndNeedsIt) {
  for (const std::string arch : {"dcgan", "mlp"}) {
    Networks nets = build_networks(conditional(tiny_config(arch, "bce"), "projection"));
    nets.g->eval();
    const auto z = torch::randn({2, 8});
    const auto a = nets.g->forward(z, torch::tensor({0, 0}, torch::kInt64));
    const auto b = nets.g->forward(z, torch::tensor({1, 1}, torch::kInt64));
    EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 1, 16, 16}));
    EXPECT_FALSE(torch::allclose(a, b)) << arch;
    const auto message = error_of<RuntimeError>([&] { nets.g->forward(z); });  // found while running
    EXPECT_TRUE(contains(message, "needs class labels")) << message;
  }
}

TEST_F(ZooTest, ProjectionAddsTheInnerProductOfTheClassEmbeddingAndTheFeatures) {
  Networks nets = build_networks(conditional(tiny_config("mlp", "hinge"), "projection"));
  nets.d->eval();
  const auto x = torch::randn({3, 1, 16, 16});
  const auto y0 = torch::zeros({3}, torch::kInt64), y2 = torch::full({3}, 2, torch::kInt64);
  const DiscriminatorOutput a = nets.d->forward(x, y0), b = nets.d->forward(x, y2);
  const auto embed = nets.d->named_parameters()["head.projection.weight"];
  const auto expected = ((embed[0] - embed[2]) * a.features).sum(1);
  EXPECT_TRUE(torch::allclose(a.score - b.score, expected, 1e-5, 1e-6));
  EXPECT_FALSE(a.class_logits.defined());
}

TEST_F(ZooTest, AuxiliaryClassifierGivesClassLogitsAndConcatWidensTheInput) {
  Networks ac = build_networks(conditional(tiny_config("dcgan", "bce"), "ac", 5));
  const auto out = ac.d->forward(torch::randn({4, 1, 16, 16}), torch::zeros({4}, torch::kInt64));
  EXPECT_EQ(out.class_logits.sizes(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(out.score.sizes(), (std::vector<int64_t>{4}));
  // concat: the first conv sees 1 image channel + 5 label maps.
  Networks concat = build_networks(conditional(tiny_config("dcgan", "bce"), "concat", 5));
  EXPECT_EQ(concat.d->named_parameters()["net.0.weight"].size(1), 6);
  EXPECT_EQ(concat.d->score(torch::randn({4, 1, 16, 16}), torch::arange(4)).sizes(), (std::vector<int64_t>{4}));
}

TEST_F(ZooTest, AcAndFeatureMatchingLossesByHand) {
  // Cross-entropy: mean of -log softmax(logits)[y].
  const auto logits = torch::tensor({{2.0, 0.0}, {0.0, 1.0}}, torch::kFloat64);
  const double ce0 = -std::log(std::exp(2.0) / (std::exp(2.0) + 1.0));
  const double ce1 = -std::log(std::exp(1.0) / (std::exp(1.0) + 1.0));
  EXPECT_NEAR(loss_ac(logits, torch::tensor({0, 1}, torch::kInt64)).item<double>(), (ce0 + ce1) / 2, 1e-12);
  // ‖mean real - mean fake‖²: means [2, 3] and [1, 1] differ by [1, 2].
  const auto real = torch::tensor({{1.0, 2.0}, {3.0, 4.0}}, torch::kFloat64);
  const auto fake = torch::tensor({{0.0, 0.0}, {2.0, 2.0}}, torch::kFloat64);
  EXPECT_NEAR(loss_feature_matching(real, fake).item<double>(), 5.0, 1e-12);
}

TEST_F(ZooTest, ConditionalGridHasOneRowPerClassWithTheSameLatentsInEveryRow) {
  Config c = conditional(tiny_config("dcgan", "bce"), "projection", 3);
  c.train.sample_nrow = 2;
  Trainer t(c, torch::kCPU);
  const auto& z = t.fixed_latents();
  ASSERT_EQ(z.size(0), 6);
  EXPECT_TRUE(torch::equal(z[0], z[2]) && torch::equal(z[0], z[4]) && torch::equal(z[1], z[5]));
  EXPECT_FALSE(torch::equal(z[0], z[1]));
  EXPECT_TRUE(torch::equal(t.fixed_labels(), torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64)));
  const auto grid = t.sample_grid();  // 3 rows of 2 tiles of 16 px with 2 px padding
  EXPECT_EQ(grid.size(1), 3 * 16 + 4 * 2);
  EXPECT_EQ(grid.size(2), 2 * 16 + 3 * 2);
}

TEST_F(ZooTest, ClassWeightsMixClassesAndOneHotWeightsEqualTheLabels) {
  EXPECT_TRUE(torch::allclose(class_walk_weights({0, 2}, 3, 3),
                              torch::tensor({{1.0, 0.0, 0.0}, {0.5, 0.0, 0.5}, {0.0, 0.0, 1.0}})));
  EXPECT_EQ(class_walk_weights({0, 2, 1}, 3, 4).size(0), 7);
  for (const int64_t embed_dim : {0, 5}) {
    Config c = conditional(tiny_config("dcgan", "bce"), "projection");
    c.model.g.embed_dim = embed_dim;
    Networks nets = build_networks(c);
    nets.g->eval();
    const auto z = torch::randn({3, 8});
    const auto labels = torch::tensor({0, 2, 1}, torch::kInt64);
    EXPECT_TRUE(torch::allclose(nets.g->forward(z, labels), nets.g->forward(z, torch::eye(3).index_select(0, labels)),
                                1e-5, 1e-6))
        << embed_dim;
    const auto message = error_of<RuntimeError>([&] { nets.g->forward(z, torch::ones({3, 4})); });
    EXPECT_TRUE(contains(message, "one row of 3 class weights")) << message;
  }
}

// ---- generator variants ----

TEST_F(ZooTest, UpsampleGeneratorsReplaceEveryStridedTransposedConvolution) {
  for (const std::string mode : {"nearest", "bilinear"}) {
    for (const int64_t size : {28, 32}) {
      Config c = tiny_config("dcgan", "bce");
      c.data.image_size = size;
      c.model.g.upsample = parse_choice<Upsample>(mode).value();
      Networks nets = build_networks(c);
      int upsamples = 0, deconvs = 0;
      for (const auto& m : nets.g->modules(false)) {
        upsamples += m->as<nn::Upsample>() != nullptr;
        deconvs += m->as<nn::ConvTranspose2d>() != nullptr;
      }
      EXPECT_EQ(upsamples, size == 28 ? 2 : 3) << mode << size;
      EXPECT_EQ(deconvs, 1) << "only the 1x1 -> core projection";
      EXPECT_EQ(nets.g->forward(torch::randn({2, 8})).sizes(), (std::vector<int64_t>{2, 1, size, size}));
    }
  }
}

TEST_F(ZooTest, ChannelMultipliersSetTheWidthsAndMustMatchTheDepth) {
  Config c = tiny_config("dcgan", "bce");
  c.data.image_size = 128;
  c.data.channels = 3;
  c.model.g.mults = {1, 2, 4, 8, 16};
  c.model.d.mults = {1, 2, 4, 8, 8};
  Networks nets = build_networks(c);
  EXPECT_EQ(nets.g->named_parameters()["net.0.weight"].size(1), 4 * 16);  // the 4x4 core is the widest
  EXPECT_EQ(nets.d->named_parameters()["score.0.weight"].size(1), 4 * 8);
  EXPECT_EQ(nets.g->forward(torch::randn({1, 8})).sizes(), (std::vector<int64_t>{1, 3, 128, 128}));
  c.model.g.mults = {1, 2, 4};
  const auto message = error_of<UsageError>([&] { build_networks(c); });
  EXPECT_TRUE(contains(message, "'model.g.mults' has 3 entries")) << message;
  EXPECT_TRUE(contains(message, "[1,2,4,8,16]")) << message;
}

TEST_F(ZooTest, SigmoidOutputTrainsOnUnitRangeDataAndSamplesInTheSignedRange) {
  Config c = tiny_config("dcgan", "bce");
  c.model.g.output = OutputActivation::sigmoid;
  Trainer t(c, torch::kCPU);
  t.networks().g->eval();
  const auto raw = t.networks().g->forward(torch::randn({4, 8}));
  EXPECT_GE(raw.min().item<double>(), 0.0);
  EXPECT_LE(raw.max().item<double>(), 1.0);
  const auto signed_images = generate(*t.networks().g, torch::randn({4, 8}), torch::kCPU);
  EXPECT_LT(signed_images.min().item<double>(), 0.0);  // mapped back to [-1, 1]
  t.networks().g->train();
  const StepStats s = t.train_step({torch::rand({4, 1, 16, 16}) * 2 - 1});
  EXPECT_TRUE(std::isfinite(s.loss_d.item<double>()));
}

// ---- everything together ----

struct Variant {
  std::string arch, upsample, loss, conditioning, norm;
  bool sn_d, sn_g;
  std::string name() const {
    return arch + (upsample == "deconv" ? "" : "-" + upsample) + "/" + loss + "/" + conditioning + "/norm-" + norm +
           (sn_d ? "/sn-d" : "") + (sn_g ? "/sn-g" : "");
  }
};

TEST_F(ZooTest, EveryArchitectureLossConditioningAndSpectralNormTrainsOrIsRejectedWithTheReason) {
  int trained = 0, rejected = 0;
  for (const auto& [arch, upsample] : std::vector<std::pair<std::string, std::string>>{
           {"mlp", "deconv"}, {"dcgan", "deconv"}, {"dcgan", "nearest"}, {"dcgan", "bilinear"}})
    for (const Loss& loss : losses())
      for (const std::string conditioning : {"none", "concat", "projection", "ac"})
        for (const std::string norm : {"auto", "batch"})
          for (const auto& [sn_d, sn_g] :
               std::vector<std::pair<bool, bool>>{{false, false}, {true, false}, {true, true}}) {
            const Variant v{arch, upsample, loss.name, conditioning, norm, sn_d, sn_g};
            Config c = tiny_config(arch, loss.name);
            c.model.g.upsample = parse_choice<Upsample>(upsample).value();
            c.model.d.norm = parse_choice<DiscriminatorNorm>(norm).value();
            c.model.d.spectral_norm = sn_d;
            c.model.g.spectral_norm = sn_g;
            if (conditioning != "none") c = conditional(c, conditioning);
            c.loss.feature_matching = trained % 2 ? 0.1 : 0.0;  // half the runs also match features
            // Augmentations in turn (ADA where the loss's sign means real or fake), and R1+R2 in a quarter of
            // the runs without batch norm.
            const int turn = (trained + rejected) % 3;
            c.train.augment = turn == 0                          ? Augment::none
                              : turn == 1 || !loss.signed_output ? Augment::diffaugment
                                                                 : Augment::ada;
            if (norm != "batch" && (trained + rejected) % 4 == 1) c.loss.r1_gamma = c.loss.r2_gamma = 1.0;
            const bool expect_rejection = (norm == "batch" && loss.name == "wgan-gp") || (sn_d && loss.name == "wgan");
            try {
              validate(c);
              Trainer t(c, torch::kCPU);
              const auto before = t.networks().g->parameters().front().clone();
              Batch batch{torch::rand({4, 1, 16, 16}) * 2 - 1, torch::tensor({0, 1, 2, 1}, torch::kInt64)};
              const StepStats s = t.train_step(std::vector<Batch>{batch});
              EXPECT_FALSE(expect_rejection) << v.name() << " trained but should be rejected";
              EXPECT_TRUE(std::isfinite(s.loss_d.item<double>()) && std::isfinite(s.loss_g.item<double>())) << v.name();
              EXPECT_FALSE(torch::equal(before, t.networks().g->parameters().front())) << v.name();
              ++trained;
            } catch (const UsageError& e) {
              EXPECT_TRUE(expect_rejection) << v.name() << " rejected: " << e.what();
              const std::string reason = e.what();
              EXPECT_TRUE(contains(reason, norm == "batch" && loss.name == "wgan-gp" ? "gradient penalty"
                                                                                     : "two Lipschitz constraints"))
                  << v.name() << ": " << reason;
              ++rejected;
            }
          }
  EXPECT_EQ(trained + rejected, 4 * 9 * 4 * 2 * 3);
  EXPECT_EQ(rejected, 4 * 4 * 3 /*batch norm + wgan-gp*/ + 4 * 4 * 2 * 2 /*sn + weight clipping*/);
}

// ---- through the real binary ----

class ZooCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = temp_dir("zoo-cli");
    write_idx_dataset(root_ + "/data", 24, 16, 3);
    run_ = root_ + "/run";
    const auto r = run_ganpp({"train",
                              "--out",
                              run_,
                              "--threads",
                              "1",
                              "--set",
                              "data.path=" + root_ + "/data",
                              "--set",
                              "data.image_size=16",
                              "--set",
                              "model.z_dim=8",
                              "--set",
                              "model.g.ngf=4",
                              "--set",
                              "model.d.ndf=4",
                              "--set",
                              "train.steps=2",
                              "--set",
                              "train.batch_size=8",
                              "--set",
                              "train.sample_nrow=4",
                              "--set",
                              "model.conditional=true",
                              "--set",
                              "model.d.conditioning=ac",
                              "--set",
                              "model.d.spectral_norm=true"});
    EXPECT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static std::string root_, run_;
};
std::string ZooCliTest::root_, ZooCliTest::run_;

TEST_F(ZooCliTest, ConditionalRunResolvesItsClassesAndDrawsOneGridRowPerClass) {
  const Json config = Json::parse(slurp(run_ + "/config.json"));
  EXPECT_EQ(config["model"]["num_classes"], 3);
  const CheckpointReader ckpt(run_ + "/checkpoints/latest.ckpt", torch::kCPU);
  EXPECT_EQ(ckpt.state().fixed_z.size(0), 3 * 4);
}

TEST_F(ZooCliTest, SampleAndInterpolateTakeAClassByIndex) {
  const std::string dir = root_ + "/class2";
  auto r = run_ganpp({"sample", "--checkpoint", run_, "--n", "3", "--class", "2", "--dir", dir, "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir + "/000000_class2.png"));
  EXPECT_TRUE(fs::exists(dir + "/000002_class2.png"));
  r = run_ganpp({"sample", "--checkpoint", run_, "--n", "4", "--dir", root_ + "/cycle", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(root_ + "/cycle/000003_class0.png"));  // without --class: the classes in turn
  r = run_ganpp({"interpolate", "--checkpoint", run_, "--out", root_ + "/walk.png", "--class", "1", "--frames",
                 root_ + "/frames", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(root_ + "/frames/000007_class1.png"));
  r = run_ganpp({"sample", "--checkpoint", run_, "--class", "7", "--grid", root_ + "/x.png"});
  EXPECT_EQ(r.code, 1);  // found only once the checkpoint is read: not a usage error
  EXPECT_TRUE(contains(r.err, "--class '7' is not a class of this model; give an index from 0 to 2")) << r.err;
}

TEST_F(ZooCliTest, DryRunShowsTheVariantAndBadCombinationsExitTwo) {
  auto r = run_ganpp({"train", "--dry-run", "--set", "data.path=" + root_ + "/data", "--set", "data.image_size=16",
                      "--set", "model.conditional=true", "--set", "model.d.spectral_norm=true", "--set",
                      "loss.kind=hinge", "--set", "model.g.upsample=nearest"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "variant: dcgan, G nearest upsampling + conv, G output tanh, conditional (3 classes; "
                              "G one-hot labels, D projection), D batch norm on, spectral norm in D; loss hinge"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "\"num_classes\": 3")) << r.out;
  r = run_ganpp({"train", "--set", "model.d.spectral_norm=true", "--set", "loss.kind=wgan", "--out", root_ + "/never"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "two Lipschitz constraints")) << r.err;
  EXPECT_FALSE(fs::exists(root_ + "/never"));
  r = run_ganpp({"sample", "--checkpoint", run_, "--class", "1"});
  EXPECT_EQ(r.code, 0) << r.err;
  fs::remove("grid.png");
}

TEST_F(ZooCliTest, ConditionalTrainingOnUnlabelledImagesFailsWithTheReason) {
  write_image_folder(root_ + "/loose", {}, 4, 16, 1);
  const auto r = run_ganpp({"train", "--out", root_ + "/loose-run", "--set", "data.path=" + root_ + "/loose", "--set",
                            "data.image_size=16", "--set", "model.conditional=true"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "needs labelled data with at least 2 classes")) << r.err;
  const std::string plain = root_ + "/plain";
  auto t = run_ganpp({"train", "--out", plain, "--threads", "1", "--set", "data.path=" + root_ + "/data", "--set",
                      "data.image_size=16", "--set", "model.z_dim=8", "--set", "model.g.ngf=4", "--set",
                      "model.d.ndf=4", "--set", "train.steps=1", "--set", "train.batch_size=8"});
  ASSERT_EQ(t.code, 0) << t.err;
  const auto u = run_ganpp({"sample", "--checkpoint", plain, "--class", "0"});
  EXPECT_EQ(u.code, 1);
  EXPECT_TRUE(contains(u.err, "needs a class-conditional model")) << u.err;
}

TEST_F(ZooCliTest, PerClassGridsAndClassWalksAtFixedLatents) {
  auto r = run_ganpp({"sample", "--checkpoint", run_, "--per-class", "--nrow", "5", "--grid", root_ + "/pc.png",
                      "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto grid = read_png(root_ + "/pc.png");  // 3 rows (classes) of 5 tiles of 16 px, 2 px padding
  EXPECT_EQ(grid.size(1), 3 * 16 + 4 * 2);
  EXPECT_EQ(grid.size(2), 5 * 16 + 6 * 2);
  r = run_ganpp({"interpolate", "--checkpoint", run_, "--out", root_ + "/cw.png", "--class-walk", "0,2,1", "--steps",
                 "3", "--rows", "2", "--frames", root_ + "/cw", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  grid = read_png(root_ + "/cw.png");  // 2 walks of (3-1)*(3-1)+1 = 5 frames
  EXPECT_EQ(grid.size(1), 2 * 16 + 3 * 2);
  EXPECT_EQ(grid.size(2), 5 * 16 + 6 * 2);
  EXPECT_TRUE(fs::exists(root_ + "/cw/000009.png"));
  // A frame at a class (t = 0) is the image of that class at the walk's latent.
  const LoadedGenerator g = load_generator(run_, torch::kCPU);
  const auto z = random_latents(2, 8, 0);
  const auto expected = generate(*g.g, z, torch::tensor({0, 0}, torch::kInt64), torch::kCPU);
  const auto frame0 = read_png(root_ + "/cw/000000.png").to(torch::kFloat) / 127.5 - 1;
  EXPECT_LT((frame0 - expected[0]).abs().max().item<double>(), 1.0 / 127.5 + 1e-6);
  r = run_ganpp({"interpolate", "--checkpoint", run_, "--out", root_ + "/x.png", "--class-walk", "1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(contains(r.err, "--class-walk needs at least two classes")) << r.err;
}

}  // namespace
