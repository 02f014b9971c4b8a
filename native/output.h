// Output: what a write or an end carries to the socket, as pieces in order. A piece is either bytes owned here
// (a copy: strings and small buffers) or a view of a JS buffer kept alive by a reference until the JS thread
// releases it (big buffers are not copied). Every use goes through the pieces as iovecs.
#pragma once

#include <napi.h>
#include <sys/uio.h>

#include <string>
#include <vector>

extern "C" {
#include "fcgiapp.h"
}

namespace libfcgi {

class Output {
 public:
  // Buffers at least this big are written from JS memory (kept by a reference), smaller ones copied.
  static constexpr size_t kReferenceMinBytes = 16 * 1024;

  Output() = default;
  Output(Output&&) = default;
  Output& operator=(Output&&) = default;

  // Appends a JS string (as UTF-8), a Uint8Array, or an array of those; false (nothing appended for the
  // offending element) for another type.
  bool AppendJs(napi_env env, Napi::Value value);
  // Appends a copy of bytes.
  void AppendCopy(const char* data, size_t len);

  size_t count() const { return pieces_.size(); }
  iovec piece(size_t i) const;
  size_t Size() const;
  // The last piece (empty when there is none) and, in *leadBytes, the bytes of every piece before it (they go
  // into a buffer before the last goes out with the end records).
  iovec Last(size_t* leadBytes = nullptr) const;

  // Writes the pieces to an fcgi2 stream: all of them, or all but the last. False when the stream failed.
  bool PutTo(FCGX_Stream* stream) const;
  bool PutLeadTo(FCGX_Stream* stream) const;
#ifdef FCGX_HAVE_PUT_STR_CLOSE
  // PutLeadTo, then the last piece with the stream's close records (FCGX_PutStrClose): the end of the output
  // and END_REQUEST in as few writes as possible.
  bool PutToAndClose(FCGX_Stream* stream) const;
#endif

  bool HasRefs() const { return refs_ > 0; }
  // Moves the references of JS buffers to *out (to be deleted on the JS thread; null: there are none) and
  // forgets every piece.
  void TakeRefs(std::vector<napi_ref>* out);

 private:
  struct Piece {
    std::string own;            // the bytes, when copied
    const char* ptr = nullptr;  // else a view of a JS buffer ...
    size_t len = 0;
    napi_ref ref = nullptr;  // ... kept alive by this reference
  };
  std::vector<Piece> pieces_;
  size_t refs_ = 0;
};

}  // namespace libfcgi
