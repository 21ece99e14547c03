// devise extension of hnswlib-node 3.0.0's HierarchicalNSW. lib/backend/hnswlib.ts copies this
// file next to the addon source and includes it inside the class body (so it sees index_,
// space_, dim_, normalize_ and the file-local normalizePoint), then registers the methods.
//
//   addPoints(data: Float32Array, firstLabel: number, numThreads?: number): undefined
//     Rows of dim floats get labels firstLabel.. and are inserted with numThreads std::threads
//     (<= 0: all cores), the way hnswlib's Python add_items does: the first point of an empty
//     index alone (it becomes the entry point), then rows handed out by an atomic counter.
//   searchKnnFloat32(query: Float32Array, k: number, filter?): { distances, neighbors }
//     searchKnn without reading the query element by element from a JS Array.
//   adviseHugePages(): number
//     Asks Linux for transparent huge pages over the level-0 block (call it before inserting);
//     returns the bytes advised, 0 where the kernel or platform has none.
//
// addPoints and searchKnnFloat32 are synchronous: no JS runs while they do, so the typed array
// cannot move or detach.

  // Throws a TypeError and returns false unless `value` is a Float32Array.
  static bool deviseIsFloat32(Napi::Env env, const Napi::Value& value, const std::string& what) {
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
      Napi::TypeError::New(env, what + " must be a Float32Array.").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  // hnswlib keeps every point's vector and level-0 links in one block (maxElements x
  // size_data_per_element bytes) and reads it at random: at a million 300-D points (1.4 GB) a
  // 4 KiB page per access misses the TLB nearly every time, while 2 MiB pages cover the block
  // with a few hundred entries. Pages not yet touched then arrive as huge pages (THP "madvise"
  // or "always"); hnswlib's Python binding does not ask. Idempotent; the block moves on resize.
  size_t deviseAdviseHugePages() {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (index_ == nullptr || index_->data_level0_memory_ == nullptr) return 0;
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t begin = reinterpret_cast<uintptr_t>(index_->data_level0_memory_);
    const uintptr_t end = begin + index_->max_elements_ * index_->size_data_per_element_;
    const uintptr_t first = (begin + page - 1) / page * page;  // madvise wants page-aligned
    const uintptr_t last = end / page * page;
    if (last <= first) return 0;
    if (madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE) != 0) return 0;
    return last - first;
#else
    return 0;
#endif
  }

  Napi::Value adviseHugePages(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(deviseAdviseHugePages()));
  }

  Napi::Value addPoints(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || info.Length() > 3) {
      Napi::Error::New(env, "addPoints: expected (data, firstLabel[, numThreads]), but got " +
                              std::to_string(info.Length()) + " arguments.")
        .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (!deviseIsFloat32(env, info[0], "addPoints: data")) return env.Undefined();
    if (!info[1].IsNumber()) {
      Napi::TypeError::New(env, "addPoints: firstLabel must be a number.").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNumber()) {
      Napi::TypeError::New(env, "addPoints: numThreads must be a number.").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (index_ == nullptr) {
      Napi::Error::New(env, "Search index has not been initialized, call `initIndex` in advance.").ThrowAsJavaScriptException();
      return env.Undefined();
    }

    Napi::Float32Array data = info[0].As<Napi::Float32Array>();
    const size_t length = data.ElementLength();
    if (length == 0) {
      Napi::Error::New(env, "addPoints: data is empty (expected rows of " + std::to_string(dim_) + " floats).")
        .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (length % dim_ != 0) {
      Napi::Error::New(env, "addPoints: data has " + std::to_string(length) + " floats, not a multiple of dim " +
                              std::to_string(dim_) + ".")
        .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const size_t rows = length / dim_;

    // Labels are uint32 everywhere else in the addon (addPoint, getIdsList), so keep them there.
    const double first = info[1].As<Napi::Number>().DoubleValue();
    if (!(first >= 0) || std::floor(first) != first || first + static_cast<double>(rows) - 1 > 4294967295.0) {
      Napi::RangeError::New(env, "addPoints: labels " + std::to_string(first) + " + [0, " + std::to_string(rows) +
                                   ") must be integers in [0, 4294967295].")
        .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const hnswlib::labeltype label0 = static_cast<hnswlib::labeltype>(first);

    // Refuse before inserting anything, so a too-small index is not left half filled. Labels
    // already present are updates and need no room.
    size_t fresh = 0;
    {
      std::unique_lock<std::mutex> lock(index_->label_lookup_lock);
      for (size_t r = 0; r < rows; r++) {
        if (index_->label_lookup_.find(label0 + r) == index_->label_lookup_.end()) fresh++;
      }
    }
    const size_t have = index_->cur_element_count;
    if (have + fresh > index_->max_elements_) {
      Napi::RangeError::New(env, "addPoints: " + std::to_string(fresh) + " new points do not fit: the index holds " +
                                   std::to_string(have) + " of maxElements " +
                                   std::to_string(index_->max_elements_) + " (call resizeIndex first).")
        .ThrowAsJavaScriptException();
      return env.Undefined();
    }

    int threads = 0;
    if (info.Length() > 2 && info[2].IsNumber()) threads = info[2].As<Napi::Number>().Int32Value();
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

    const float* src = data.Data();
    const size_t dim = dim_;
    const bool normalize = normalize_;
    hnswlib::HierarchicalNSW<float>* index = index_;
    // The same normalisation as addPoint (cosine space), into a per-thread buffer.
    auto insert = [&](size_t row, std::vector<float>& buffer) {
      const float* point = src + row * dim;
      if (normalize) {
        std::copy(point, point + dim, buffer.begin());
        normalizePoint(buffer);
        point = buffer.data();
      }
      index->addPoint(point, label0 + row, false);
    };

    std::string error;
    size_t start = 0;
    try {
      // An empty index gets its entry point from one insert before any thread races for it.
      if (index_->cur_element_count == 0) {
        std::vector<float> buffer(dim);
        insert(0, buffer);
        start = 1;
      }
    } catch (const std::exception& e) {
      error = e.what();
    }

    if (error.empty() && start < rows) {
      // Few rows are not worth the thread start-up (hnswlib's Python binding does the same).
      if (rows - start <= static_cast<size_t>(threads) * 4) threads = 1;
      std::atomic<size_t> next(start);
      std::mutex error_lock;
      auto work = [&]() {
        std::vector<float> buffer(dim);
        for (;;) {
          const size_t row = next.fetch_add(1);
          if (row >= rows) return;
          try {
            insert(row, buffer);
          } catch (const std::exception& e) {
            std::lock_guard<std::mutex> guard(error_lock);
            if (error.empty()) error = e.what();
            next.store(rows);  // the others stop at their next row
            return;
          }
        }
      };
      // This thread works too; if a thread cannot be started the others still finish the rows.
      std::vector<std::thread> pool;
      for (int t = 1; t < threads; t++) {
        try {
          pool.emplace_back(work);
        } catch (const std::system_error&) {
          break;
        }
      }
      work();
      for (std::thread& t : pool) t.join();
    }

    if (!error.empty()) {
      Napi::Error::New(env, "Hnswlib Error: " + error).ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  Napi::Value searchKnnFloat32(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || info.Length() > 3) {
      Napi::Error::New(env, "searchKnnFloat32: expected (query, k[, filter]), but got " +
                              std::to_string(info.Length()) + " arguments.")
        .ThrowAsJavaScriptException();
      return env.Null();
    }
    if (!deviseIsFloat32(env, info[0], "searchKnnFloat32: query")) return env.Null();
    if (!info[1].IsNumber()) {
      Napi::TypeError::New(env, "searchKnnFloat32: k must be a number.").ThrowAsJavaScriptException();
      return env.Null();
    }
    if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsFunction()) {
      Napi::TypeError::New(env, "searchKnnFloat32: filter must be a function.").ThrowAsJavaScriptException();
      return env.Null();
    }
    if (index_ == nullptr) {
      Napi::Error::New(env, "Search index has not been initialized, call `initIndex` in advance.").ThrowAsJavaScriptException();
      return env.Null();
    }

    Napi::Float32Array query = info[0].As<Napi::Float32Array>();
    if (query.ElementLength() != dim_) {
      Napi::Error::New(env, "Invalid the given array length (expected " + std::to_string(dim_) + ", but got " +
                              std::to_string(query.ElementLength()) + ").")
        .ThrowAsJavaScriptException();
      return env.Null();
    }
    const uint32_t k = info[1].As<Napi::Number>().Uint32Value();
    if (k > index_->max_elements_) {
      Napi::Error::New(env, "Invalid the number of k-nearest neighbors (cannot be given a value greater than `maxElements`: " +
                              std::to_string(index_->max_elements_) + ").")
        .ThrowAsJavaScriptException();
      return env.Null();
    }

    std::vector<float> vec;
    const float* point = query.Data();
    if (normalize_) {
      vec.assign(point, point + dim_);
      normalizePoint(vec);
      point = vec.data();
    }

    std::unique_ptr<CustomFilterFunctor> filter;
    if (info.Length() > 2 && info[2].IsFunction()) {
      filter.reset(new CustomFilterFunctor(env, info[2].As<Napi::Function>()));
    }

    std::priority_queue<std::pair<float, size_t>> knn;
    try {
      knn = index_->searchKnn(point, static_cast<size_t>(k), filter.get());
    } catch (const std::exception& e) {
      Napi::Error::New(env, "Hnswlib Error: " + std::string(e.what())).ThrowAsJavaScriptException();
      return env.Null();
    }
    // Same shape and order as searchKnn: nearest first.
    const size_t n_results = knn.size();
    Napi::Array distances = Napi::Array::New(env, n_results);
    Napi::Array neighbors = Napi::Array::New(env, n_results);
    for (int32_t i = static_cast<int32_t>(n_results) - 1; i >= 0; i--) {
      const std::pair<float, size_t>& nn = knn.top();
      distances[i] = Napi::Number::New(env, nn.first);
      neighbors[i] = Napi::Number::New(env, static_cast<double>(nn.second));
      knn.pop();
    }
    Napi::Object results = Napi::Object::New(env);
    results.Set("distances", distances);
    results.Set("neighbors", neighbors);
    return results;
  }
