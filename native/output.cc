// Output: pieces of a response in order, copied or referenced (output.h).
#include "output.h"

#include "request.h"

namespace libfcgi {

iovec Output::piece(size_t i) const {
  const Piece& p = pieces_[i];
  iovec v;
  v.iov_base = const_cast<char*>(p.ref != nullptr ? p.ptr : p.own.data());
  v.iov_len = p.ref != nullptr ? p.len : p.own.size();
  return v;
}

size_t Output::Size() const {
  size_t n = 0;
  for (size_t i = 0; i < pieces_.size(); i++) n += piece(i).iov_len;
  return n;
}

iovec Output::Last(size_t* leadBytes) const {
  iovec v;
  v.iov_base = const_cast<char*>("");
  v.iov_len = 0;
  size_t lead = 0;
  for (const Piece& p : pieces_) {
    lead += v.iov_len;
    v.iov_base = const_cast<char*>(p.ref != nullptr ? p.ptr : p.own.data());
    v.iov_len = p.ref != nullptr ? p.len : p.own.size();
  }
  if (leadBytes != nullptr) *leadBytes = lead;
  return v;
}

bool Output::PutTo(FCGX_Stream* stream) const {
  if (!PutLeadTo(stream)) return false;
  iovec last = Last();
  return PutAll(stream, static_cast<const char*>(last.iov_base), last.iov_len);
}

bool Output::PutLeadTo(FCGX_Stream* stream) const {
  for (size_t i = 0; i + 1 < pieces_.size(); i++) {
    iovec v = piece(i);
    if (!PutAll(stream, static_cast<const char*>(v.iov_base), v.iov_len)) return false;
  }
  return true;
}

#ifdef FCGX_HAVE_PUT_STR_CLOSE
bool Output::PutToAndClose(FCGX_Stream* stream) const {
  if (!PutLeadTo(stream)) return false;
  iovec last = Last();
  const char* bytes = static_cast<const char*>(last.iov_base);
  size_t head = last.iov_len > (1u << 30) ? last.iov_len - (1u << 30) : 0;  // FCGX_PutStrClose takes an int
  if (head > 0 && !PutAll(stream, bytes, head)) return false;
  return FCGX_PutStrClose(bytes + head, static_cast<int>(last.iov_len - head), stream) == 0;
}
#endif

void Output::AppendCopy(const char* data, size_t len) {
  Piece p;
  p.own.assign(data, len);
  pieces_.push_back(std::move(p));
}

bool Output::AppendJs(napi_env env, Napi::Value value) {
  // One value, or each element of an array of them (not nested).
  bool isArray = value.IsArray();
  Napi::Array array = isArray ? value.As<Napi::Array>() : Napi::Array();
  uint32_t n = isArray ? array.Length() : 1;
  pieces_.reserve(pieces_.size() + n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = isArray ? array.Get(i) : value;
    Piece p;
    if (v.IsString()) {
      size_t len = 0;
      napi_get_value_string_utf8(env, v, nullptr, 0, &len);
      p.own.resize(len + 1);
      size_t copied = 0;
      napi_get_value_string_utf8(env, v, &p.own[0], p.own.size(), &copied);
      p.own.resize(copied);
    } else if (v.IsTypedArray()) {
      Napi::TypedArray ta = v.As<Napi::TypedArray>();
      const char* data = static_cast<const char*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      if (ta.ByteLength() >= kReferenceMinBytes && napi_create_reference(env, v, 1, &p.ref) == napi_ok) {
        p.ptr = data;
        p.len = ta.ByteLength();
        refs_++;
      } else {
        p.own.assign(data, ta.ByteLength());
      }
    } else {
      return false;
    }
    pieces_.push_back(std::move(p));
  }
  return true;
}

void Output::TakeRefs(std::vector<napi_ref>* out) {
  for (Piece& p : pieces_) {
    if (p.ref != nullptr && out != nullptr) out->push_back(p.ref);
    p.ref = nullptr;
  }
  pieces_.clear();
  refs_ = 0;
}

}  // namespace libfcgi
