"""Media I/O: fetching inputs safely, decoding and measuring them."""
