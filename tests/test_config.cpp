// Tests of the config layer: JSON round trip, strict rejection with key paths, overrides, validation.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ganpp/config.hpp"
#include "ganpp/errors.hpp"
#include "helpers.hpp"

namespace ganpp {
namespace {

using test::contains;
using test::error_of;
using test::TempDir;

std::string parse_error(const std::string& json_text) {
  const Json j = Json::parse(json_text);
  return error_of<UsageError>([&] { config_from_json(j); });
}

Config modified_config() {
  Config c;
  c.data.path = "/tmp/some/images";
  c.data.split = DataSplit::test;
  c.data.limit = 123;
  c.data.image_size = 64;
  c.data.channels = 3;
  c.data.hflip = true;
  c.model.arch = "mlp";
  c.model.z_dim = 32;
  c.model.g.ngf = 16;
  c.model.g.hidden = {7, 9};
  c.model.d.ndf = 24;
  c.model.d.hidden = {11};
  c.model.g.upsample = Upsample::bilinear;
  c.model.g.output = OutputActivation::sigmoid;
  c.model.d.norm = DiscriminatorNorm::none;
  c.model.d.dropout = 0.3;
  c.model.d.conditioning = Conditioning::ac;
  c.loss.kind = "wgan-gp";
  c.loss.n_critic = 5;
  c.loss.gp_lambda = 2.5;
  c.loss.label_smoothing = 0.1;
  c.optim.g.lr = 1e-4;
  c.optim.g.betas = {0.0, 0.9};
  c.optim.g.weight_decay = 0.01;
  c.optim.d.lr = 3e-4;
  c.optim.d.betas = {0.25, 0.75};
  c.optim.lr_decay = LrDecay::linear;
  c.train.steps = 77;
  c.train.batch_size = 16;
  c.train.seed = 18446744073709551557ull;  // needs all 64 unsigned bits
  c.train.log_every = 3;
  c.train.sample_every = 4;
  c.train.checkpoint_every = 5;
  c.train.keep_checkpoints = 2;
  c.train.sample_count = 36;
  c.train.sample_nrow = 6;
  c.train.precision = Precision::bf16;
  c.train.cuda_graph = true;
  return c;
}

TEST(ConfigTest, DefaultsRoundTrip) {
  const Json defaults = config_to_json(Config{});
  const Config parsed = config_from_json(defaults);
  EXPECT_EQ(config_to_json(parsed), defaults);
  EXPECT_EQ(parsed.data.path, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(parsed.model.arch, "dcgan");
  EXPECT_EQ(parsed.model.z_dim, 100);
  EXPECT_EQ(parsed.loss.kind, "bce");
  EXPECT_DOUBLE_EQ(parsed.optim.g.betas[0], 0.5);
  EXPECT_DOUBLE_EQ(parsed.optim.g.betas[1], 0.999);
  EXPECT_EQ(parsed.train.batch_size, 64);
  EXPECT_EQ(parsed.train.steps, 4000);
  EXPECT_DOUBLE_EQ(parsed.optim.g.lr, 6e-4);
  EXPECT_DOUBLE_EQ(parsed.optim.d.lr, 2.5e-4);
}

TEST(ConfigTest, EmptyObjectGivesDefaults) {
  EXPECT_EQ(config_to_json(config_from_json(Json::object())), config_to_json(Config{}));
}

TEST(ConfigTest, ModifiedConfigRoundTrips) {
  const Config c = modified_config();
  const Json json = config_to_json(c);
  // Through text too, as config.json is written and read back.
  const Config back = config_from_json(Json::parse(json.dump(2)));
  EXPECT_EQ(config_to_json(back), json);
  EXPECT_EQ(back.data.path, "/tmp/some/images");
  EXPECT_EQ(back.data.split, DataSplit::test);
  EXPECT_EQ(back.data.limit, 123);
  EXPECT_EQ(back.data.channels, 3);
  EXPECT_TRUE(back.data.hflip);
  EXPECT_EQ(back.model.g.hidden, (std::vector<int64_t>{7, 9}));
  EXPECT_EQ(back.model.d.hidden, (std::vector<int64_t>{11}));
  EXPECT_EQ(back.model.g.upsample, Upsample::bilinear);
  EXPECT_EQ(back.model.g.output, OutputActivation::sigmoid);
  EXPECT_EQ(back.model.d.norm, DiscriminatorNorm::none);
  EXPECT_EQ(back.model.d.conditioning, Conditioning::ac);
  EXPECT_EQ(back.optim.lr_decay, LrDecay::linear);
  EXPECT_EQ(back.train.precision, Precision::bf16);
  EXPECT_DOUBLE_EQ(back.model.d.dropout, 0.3);
  EXPECT_EQ(back.loss.kind, "wgan-gp");
  EXPECT_EQ(back.loss.n_critic, 5);
  EXPECT_DOUBLE_EQ(back.loss.gp_lambda, 2.5);
  EXPECT_DOUBLE_EQ(back.optim.g.lr, 1e-4);
  EXPECT_DOUBLE_EQ(back.optim.g.betas[0], 0.0);
  EXPECT_DOUBLE_EQ(back.optim.g.betas[1], 0.9);
  EXPECT_DOUBLE_EQ(back.optim.d.betas[0], 0.25);
  EXPECT_DOUBLE_EQ(back.optim.g.weight_decay, 0.01);
  EXPECT_EQ(back.train.seed, 18446744073709551557ull);
  EXPECT_EQ(back.train.sample_nrow, 6);
}

TEST(ConfigTest, RunBlockIsIgnored) {
  Json json = config_to_json(Config{});
  json["run"] = {{"ganpp_version", "0.1.0"}, {"device", "cpu"}};
  EXPECT_EQ(config_to_json(config_from_json(json)), config_to_json(Config{}));
}

TEST(ConfigTest, UnknownTopLevelKeyListsSections) {
  const std::string msg = parse_error(R"({"trian": {"steps": 5}})");
  EXPECT_TRUE(contains(msg, "'trian'")) << msg;
  for (const char* key : {"data", "model", "loss", "optim", "train"}) EXPECT_TRUE(contains(msg, key)) << msg;
}

TEST(ConfigTest, UnknownNestedKeyNamesFullPathAndValidKeys) {
  const std::string msg = parse_error(R"({"model": {"d": {"foo": 1}}})");
  EXPECT_TRUE(contains(msg, "'model.d.foo'")) << msg;
  for (const char* key : {"ndf", "hidden", "norm", "dropout"}) EXPECT_TRUE(contains(msg, key)) << msg;
}

TEST(ConfigTest, SectionMustBeObject) {
  const std::string msg = parse_error(R"({"train": 5})");
  EXPECT_TRUE(contains(msg, "'train'")) << msg;
  EXPECT_TRUE(contains(msg, "object")) << msg;
}

TEST(ConfigTest, WrongTypeNamesKey) {
  const std::string msg = parse_error(R"({"train": {"steps": "ten"}})");
  EXPECT_TRUE(contains(msg, "'train.steps'")) << msg;
  EXPECT_TRUE(contains(msg, "integer")) << msg;
  EXPECT_TRUE(contains(msg, "\"ten\"")) << msg;

  EXPECT_TRUE(contains(parse_error(R"({"data": {"hflip": 1}})"), "'data.hflip'"));
  EXPECT_TRUE(contains(parse_error(R"({"train": {"steps": 2.5}})"), "'train.steps'"));
  EXPECT_TRUE(contains(parse_error(R"({"model": {"g": {"hidden": [256, "x"]}}})"), "'model.g.hidden'"));
  EXPECT_TRUE(contains(parse_error(R"({"optim": {"g": {"betas": [0.5]}}})"), "'optim.g.betas'"));
  EXPECT_TRUE(contains(parse_error(R"({"train": {"seed": -1}})"), "'train.seed'"));
  EXPECT_TRUE(contains(parse_error(R"({"data": {"path": ""}})"), "'data.path'"));
}

TEST(ConfigTest, OutOfRangeValuesAreRejected) {
  std::string msg = parse_error(R"({"train": {"steps": 0}})");
  EXPECT_TRUE(contains(msg, "'train.steps'")) << msg;
  EXPECT_TRUE(contains(msg, "out of range")) << msg;
  EXPECT_TRUE(contains(msg, ">= 1")) << msg;

  msg = parse_error(R"({"data": {"channels": 4}})");
  EXPECT_TRUE(contains(msg, "'data.channels'")) << msg;
  EXPECT_TRUE(contains(msg, "[1, 3]")) << msg;

  msg = parse_error(R"({"model": {"d": {"dropout": 1.0}}})");
  EXPECT_TRUE(contains(msg, "'model.d.dropout'")) << msg;
  EXPECT_TRUE(contains(msg, "[0, 1)")) << msg;

  EXPECT_TRUE(contains(parse_error(R"({"loss": {"label_smoothing": -0.1}})"), "'loss.label_smoothing'"));
  EXPECT_TRUE(contains(parse_error(R"({"optim": {"d": {"betas": [0.5, 1.0]}}})"), "'optim.d.betas'"));
  EXPECT_TRUE(contains(parse_error(R"({"optim": {"g": {"lr": 0}}})"), "'optim.g.lr'"));
  EXPECT_TRUE(contains(parse_error(R"({"data": {"image_size": 2}})"), "'data.image_size'"));
  EXPECT_TRUE(contains(parse_error(R"({"model": {"d": {"hidden": [0]}}})"), "'model.d.hidden'"));

  // Bounds themselves are accepted.
  const Config c = config_from_json(Json::parse(R"({"train": {"steps": 1}, "data": {"channels": 3},
                                                     "model": {"d": {"dropout": 0.0}}})"));
  EXPECT_EQ(c.train.steps, 1);
  EXPECT_EQ(c.data.channels, 3);
}

TEST(ConfigTest, BadChoiceListsChoices) {
  const std::string msg = parse_error(R"({"model": {"d": {"norm": "layer"}}})");
  EXPECT_TRUE(contains(msg, "'model.d.norm'")) << msg;
  EXPECT_TRUE(contains(msg, "\"layer\"")) << msg;
  for (const char* choice : {"auto", "batch", "none"}) EXPECT_TRUE(contains(msg, choice)) << msg;

  const std::string split = parse_error(R"({"data": {"split": "val"}})");
  EXPECT_TRUE(contains(split, "'data.split'")) << split;
  EXPECT_TRUE(contains(split, "train")) << split;
  EXPECT_TRUE(contains(split, "test")) << split;
}

// The rules that involve a loss or an architecture are tested with validate() in test_models and test_losses.
TEST(ConfigTest, ValidateFieldsRejectsCombinations) {
  EXPECT_NO_THROW(validate_fields(Config{}));
  Config c;
  c.data.channels = 2;
  EXPECT_TRUE(contains(error_of<UsageError>([&] { validate_fields(c); }), "data.channels"));

  Config grid;
  grid.train.sample_count = 4;
  grid.train.sample_nrow = 8;
  EXPECT_TRUE(contains(error_of<UsageError>([&] { validate_fields(grid); }), "train.sample_nrow"));

  Config one_class;
  one_class.model.conditional = true;
  one_class.model.num_classes = 1;
  EXPECT_TRUE(contains(error_of<UsageError>([&] { validate_fields(one_class); }), "model.num_classes"));
}

TEST(ConfigTest, OverrideCreatesNestedListValue) {
  Json json = Json::object();
  apply_override(json, "optim.g.betas=[0.0,0.9]");
  ASSERT_TRUE(json["optim"]["g"]["betas"].is_array());
  ASSERT_EQ(json["optim"]["g"]["betas"].size(), 2u);
  EXPECT_DOUBLE_EQ(json["optim"]["g"]["betas"][1].get<double>(), 0.9);
  const Config c = config_from_json(json);
  EXPECT_DOUBLE_EQ(c.optim.g.betas[0], 0.0);
  EXPECT_DOUBLE_EQ(c.optim.g.betas[1], 0.9);
  EXPECT_DOUBLE_EQ(c.optim.d.betas[0], 0.5);  // the other optimiser keeps its default
}

TEST(ConfigTest, OverrideParsesJsonScalarsAndFallsBackToString) {
  Json json = config_to_json(Config{});
  apply_override(json, "data.path=/x/y");
  apply_override(json, "train.steps=10");
  apply_override(json, "data.hflip=true");
  apply_override(json, "loss.kind=wgan-gp");
  EXPECT_TRUE(json["data"]["path"].is_string());
  EXPECT_EQ(json["data"]["path"].get<std::string>(), "/x/y");
  EXPECT_TRUE(json["train"]["steps"].is_number_integer());
  const Config c = config_from_json(json);
  EXPECT_EQ(c.data.path, "/x/y");
  EXPECT_EQ(c.train.steps, 10);
  EXPECT_TRUE(c.data.hflip);
  EXPECT_EQ(c.loss.kind, "wgan-gp");
  EXPECT_EQ(c.train.batch_size, 64);  // untouched keys survive
}

TEST(ConfigTest, OverrideUnknownKeyIsRejectedByParse) {
  Json json = Json::object();
  apply_override(json, "model.d.foo=3");
  const std::string msg = error_of<UsageError>([&] { config_from_json(json); });
  EXPECT_TRUE(contains(msg, "'model.d.foo'")) << msg;
}

TEST(ConfigTest, OverrideBadForms) {
  Json json = Json::object();
  std::string msg = error_of<UsageError>([&] { apply_override(json, "train.steps"); });
  EXPECT_TRUE(contains(msg, "KEY=VALUE")) << msg;
  EXPECT_TRUE(contains(msg, "train.steps")) << msg;
  EXPECT_TRUE(contains(error_of<UsageError>([&] { apply_override(json, "=5"); }), "KEY=VALUE"));
  EXPECT_TRUE(contains(error_of<UsageError>([&] { apply_override(json, "train..steps=5"); }), "empty component"));

  Json with_steps = Json::object();
  apply_override(with_steps, "train.steps=5");
  msg = error_of<UsageError>([&] { apply_override(with_steps, "train.steps.x=1"); });
  EXPECT_TRUE(contains(msg, "'train.steps' is not a section")) << msg;
}

TEST(ConfigTest, OverrideKey) {
  EXPECT_EQ(override_key("train.steps=10"), "train.steps");
  EXPECT_EQ(override_key("data.path=a=b"), "data.path");
  EXPECT_THROW(override_key("novalue"), UsageError);
}

TEST(ConfigTest, ReadJsonFileReportsLineAndColumn) {
  const TempDir tmp("config-json");
  const std::string& dir = tmp.path;
  const std::string path = dir + "/bad.json";
  // Line 3 holds the error: a value is missing after the colon.
  test::write_bytes(path, "{\n  \"train\": {\n    \"steps\": ,\n    \"seed\": 1\n  }\n}\n");
  const std::string msg = error_of<UsageError>([&] { read_json_file(path); });
  EXPECT_TRUE(contains(msg, path)) << msg;
  EXPECT_TRUE(contains(msg, "line 3, column 14")) << msg;
  EXPECT_TRUE(contains(msg, "unexpected ','")) << msg;  // what is wrong, not only where
}

TEST(ConfigTest, ReadJsonFileKeepsTheParserExplanation) {
  const TempDir tmp("config-json-string");
  const std::string& dir = tmp.path;
  const std::string path = dir + "/bad.json";
  // A raw newline inside a string: nlohmann explains "invalid string: control character ...; last read: ...".
  test::write_bytes(path, "{\n  \"data\": {\"path\": \"/x\ny\"}\n}\n");
  const std::string msg = error_of<UsageError>([&] { read_json_file(path); });
  EXPECT_TRUE(contains(msg, "line 2, column")) << msg;
  EXPECT_TRUE(contains(msg, "invalid string")) << msg;
}

TEST(ConfigTest, ReadJsonFileReportsLineOfMissingComma) {
  const TempDir tmp("config-json2");
  const std::string& dir = tmp.path;
  const std::string path = dir + "/bad.json";
  test::write_bytes(path, "{\n  \"data\": {\"limit\": 5}\n  \"train\": {}\n}\n");
  const std::string msg = error_of<UsageError>([&] { read_json_file(path); });
  EXPECT_TRUE(contains(msg, "line 3, column")) << msg;
}

TEST(ConfigTest, ReadJsonFileGoodAndMissing) {
  const TempDir tmp("config-json3");
  const std::string& dir = tmp.path;
  const std::string path = dir + "/good.json";
  test::write_bytes(path, R"({"train": {"steps": 7}})");
  const Json json = read_json_file(path);
  EXPECT_EQ(json["train"]["steps"].get<int64_t>(), 7);

  const std::string msg = error_of<UsageError>([&] { read_json_file(dir + "/missing.json"); });
  EXPECT_TRUE(contains(msg, "missing.json")) << msg;
}

TEST(ConfigTest, LoadConfigAppliesOverridesAndValidates) {
  const TempDir tmp("config-load");
  const std::string& dir = tmp.path;
  const std::string path = dir + "/c.json";
  test::write_bytes(path, R"({"train": {"steps": 7, "batch_size": 8}})");
  const Config c = load_config(path, {"train.steps=9", "loss.kind=wgan-gp"});
  EXPECT_EQ(c.train.steps, 9);
  EXPECT_EQ(c.train.batch_size, 8);
  EXPECT_EQ(c.loss.kind, "wgan-gp");
  EXPECT_EQ(load_config("", {}).train.steps, Config{}.train.steps);
  EXPECT_THROW(load_config(path, {"train.sample_nrow=100"}), UsageError);
}

// A string that is not UTF-8 (a --set value taken as text, e.g. a folder name in another encoding) cannot be
// stored in config.json: a config error naming the key, found by fuzzing.
TEST(ConfigTest, StringsMustBeUtf8) {
  const std::string message = error_of<UsageError>([] {
    load_config("", {"data.path=/data/caf\xe9", "train.steps=3"});
  });
  EXPECT_TRUE(contains(message, "config key 'data.path'")) << message;
  EXPECT_TRUE(contains(message, "is not valid UTF-8")) << message;
  EXPECT_EQ(load_config("", {"data.path=/data/caf\xc3\xa9"}).data.path, "/data/caf\xc3\xa9");
}

TEST(ConfigTest, ResumableKeys) {
  for (const char* key : {"train.steps", "train.log_every", "train.sample_every", "train.checkpoint_every",
                          "train.keep_checkpoints", "train.eval_every", "train.cuda_graph",
                          // Where the data is read from (the resume checks the data's fingerprint).
                          "data.path", "data.cache"})
    EXPECT_TRUE(is_resumable_key(key)) << key;
  for (const char* key : {"train.batch_size", "train.seed", "model.z_dim", "loss.kind", "data.image_size", "data.limit",
                          "steps", "train.precision", ""})
    EXPECT_FALSE(is_resumable_key(key)) << key;
}

TEST(ConfigTest, ChoicesAreSpelledAsInJson) {
  EXPECT_EQ(spelling(DiscriminatorNorm::automatic), "auto");
  EXPECT_EQ(spelling(Precision::bf16), "bf16");
  EXPECT_EQ(spellings<Upsample>(), (std::vector<std::string>{"deconv", "nearest", "bilinear"}));
  EXPECT_EQ(spellings<Conditioning>(), (std::vector<std::string>{"concat", "projection", "ac"}));
  EXPECT_EQ(parse_choice<LrDecay>("linear"), LrDecay::linear);
  EXPECT_EQ(parse_choice<OutputActivation>("sigmoid"), OutputActivation::sigmoid);
  EXPECT_EQ(parse_choice<DataSplit>("val"), std::nullopt);
  EXPECT_EQ(parse_choice<DiscriminatorNorm>("automatic"), std::nullopt);  // the JSON word is "auto"

  const Json j = config_to_json(Config{});
  EXPECT_EQ(j["data"]["split"], "train");
  EXPECT_EQ(j["model"]["g"]["upsample"], "deconv");
  EXPECT_EQ(j["model"]["g"]["output"], "tanh");
  EXPECT_EQ(j["model"]["d"]["norm"], "auto");
  EXPECT_EQ(j["model"]["d"]["conditioning"], "projection");
  EXPECT_EQ(j["optim"]["lr_decay"], "none");
  EXPECT_EQ(j["train"]["precision"], "fp32");
}

TEST(ConfigTest, TrainingQualityKeysParseAndRoundTrip) {
  Json json = Json::object();
  apply_override(json, "train.augment=diffaugment");
  apply_override(json, "train.augment_policy=translation,color");
  apply_override(json, "data.background=#ff8000");
  apply_override(json, "loss.r1_gamma=0.5");
  apply_override(json, "loss.reg_every=16");
  apply_override(json, "train.ema_bn=copy");
  const Config c = config_from_json(json);
  EXPECT_EQ(c.train.augment, Augment::diffaugment);
  EXPECT_TRUE(c.train.augment_policy.color && c.train.augment_policy.translation);
  EXPECT_FALSE(c.train.augment_policy.cutout);
  EXPECT_EQ(background_rgb(c.data), (std::array<uint8_t, 3>{255, 128, 0}));
  EXPECT_EQ(c.train.ema_bn, EmaBatchNorm::copy);
  const Json back = config_to_json(c);
  EXPECT_EQ(back["train"]["augment_policy"], "color,translation");
  EXPECT_EQ(config_to_json(config_from_json(back)), back);
  EXPECT_EQ(background_rgb(Config{}.data), (std::array<uint8_t, 3>{255, 255, 255}));

  Json bad = Json::object();
  apply_override(bad, "train.augment_policy=color,zoom");
  EXPECT_NE(error_of<UsageError>([&] { config_from_json(bad); }).find("unknown transform 'zoom'"), std::string::npos);
  Config colour;
  colour.data.background = "#12345";
  EXPECT_NE(error_of<UsageError>([&] { validate_fields(colour); }).find("data.background"), std::string::npos);
}

// A checkpoint's stored config names every key of its time: keys added since take the old behaviour.
TEST(ConfigTest, StoredConfigsWithoutNewKeysKeepTheirOldBehaviour) {
  Json stored = config_to_json(Config{});
  stored["data"].erase("background");
  stored["train"].erase("ema_bn");
  const Config old = stored_config_from_json(stored);
  EXPECT_EQ(old.data.background, "none");
  EXPECT_EQ(background_rgb(old.data), std::nullopt);
  EXPECT_EQ(old.train.ema_bn, EmaBatchNorm::copy);
  // A user's file without them gets today's defaults.
  EXPECT_EQ(config_from_json(stored).data.background, "white");
}

}  // namespace
}  // namespace ganpp
