#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "metrics/family.hpp"
#include "metrics/mp_format.hpp"

namespace o11y::detail {

/// Cells in this process's file of the multiprocess directory, mapped shared, so any process
/// reading the directory sees every completed update. The file is reserved as 1 GiB of
/// address space and grown with ftruncate, so cells never move once handed out.
///
/// Thread-safe. If the file cannot be created or grown, cells come from the heap (the values
/// then stay in this process) and the problem is reported once.
class MmapValueStore final : public ValueStore {
 public:
  explicit MmapValueStore(std::string dir);
  ~MmapValueStore() override;
  MmapValueStore(const MmapValueStore&) = delete;
  MmapValueStore& operator=(const MmapValueStore&) = delete;
  MmapValueStore(MmapValueStore&&) = delete;
  MmapValueStore& operator=(MmapValueStore&&) = delete;

  Cell* allocate(const Family& family, std::span<const std::string> values, std::size_t n) override;
  Exemplar* allocate_exemplars(const Family& family, const Cell* cells, std::size_t n) override;
  void* allocate_native_table(const Family& family, const Cell* cells, int schema,
                              std::size_t bytes) noexcept override;
  [[nodiscard]] bool in_process() const noexcept override { return false; }

  /// In a fork()ed child: leave the parent's file alone and start a new one for this pid.
  /// The caller then allocates fresh (zero) cells for every series.
  void reopen_after_fork();

  [[nodiscard]] std::string path() const;
  /// The process whose file this is.
  [[nodiscard]] int owner_pid() const;

 private:
  void open_locked();
  char* reserve_locked(std::size_t bytes);
  void publish_locked(std::size_t bytes);
  bool family_id_locked(const Family& f, std::uint32_t& id);

  mutable std::mutex mu_;
  std::string dir_;
  std::string path_;
  int fd_ = -1;
  int pid_ = 0;
  bool full_reported_ = false;
  char* base_ = nullptr;
  std::size_t size_ = 0;
  std::size_t used_ = 0;
  std::unordered_map<const Family*, std::uint32_t> ids_;
  std::unordered_map<const Cell*, std::uint32_t> series_index_;  // ordinal of each series record
  std::vector<std::unique_ptr<Cell[]>> fallback_;
  std::vector<std::unique_ptr<Exemplar[]>> fallback_exemplars_;
};

}  // namespace o11y::detail
