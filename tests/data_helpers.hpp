// Helpers of the tests that compare datasets loaded from different sources.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"

namespace ganpp::test {

/// A data config that decodes `path` in memory (no cache) at `size`² × `channels`.
inline DataConfig uncached_data(const std::string& path, int64_t size, int64_t channels) {
  DataConfig c;
  c.path = path;
  c.image_size = size;
  c.channels = channels;
  c.cache = "off";
  return c;
}

/// The same images and labels (classes are compared by the callers that expect the same names).
inline void expect_same_images(const Dataset& a, const Dataset& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_TRUE(torch::equal(a.images, b.images));
  ASSERT_EQ(a.labels.defined(), b.labels.defined());
  if (a.labels.defined()) {
    EXPECT_TRUE(torch::equal(a.labels, b.labels));
  }
}

}  // namespace ganpp::test
