"""Fixtures for the marts: the WooCommerce lane's emulated shop (reused from the lane's tests)."""

from storepipe_tests.sources.woocommerce.conftest import emulator, woo_shop

__all__ = ["emulator", "woo_shop"]
