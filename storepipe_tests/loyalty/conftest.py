"""Fixtures for loyalty: the WooCommerce lane's emulated shop (reused from the lane's tests), for the whole job."""

from storepipe_tests.sources.woocommerce.conftest import emulator, woo_shop

__all__ = ["emulator", "woo_shop"]
