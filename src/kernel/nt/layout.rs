//! Layout assertions (filled in below).
