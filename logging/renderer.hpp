#pragma once

#include <memory>
#include <string_view>

#include "base/text.hpp"
#include "logging/record.hpp"

namespace o11y::detail {

/// Turns one Record into one line of bytes ending in '\n'. Implementations are stateless and
/// thread-safe; render never throws except std::bad_alloc.
class Renderer {
 public:
  virtual ~Renderer() = default;
  Renderer() = default;
  Renderer(const Renderer&) = delete;
  Renderer& operator=(const Renderer&) = delete;
  Renderer(Renderer&&) = delete;
  Renderer& operator=(Renderer&&) = delete;

  virtual void render(const Record& record, Buffer& out) const = 0;
};

std::unique_ptr<Renderer> make_json_renderer(RenderLimits limits = {});
std::unique_ptr<Renderer> make_console_renderer(bool colors, RenderLimits limits = {});

/// Keys the renderers write themselves; a user field with one of these names is renamed.
[[nodiscard]] bool is_reserved_key(std::string_view key) noexcept;

/// Visits the record's user fields in their stable order: call fields, bound fields, custom
/// tags, log context. A key that is reserved, or already used by an earlier field, is given
/// the suffix of its source ("_field", "_bound", "_tag", "_context") instead of overwriting.
/// At most limits.max_fields are visited; returns how many were left out.
/// visit(std::string_view key, std::string_view suffix, ValueView value)
template <class Visit>
std::size_t for_each_user_field(const Record& r, const RenderLimits& limits, Visit&& visit);

}  // namespace o11y::detail

#include "logging/field_walk.inl"  // IWYU pragma: keep
