"""The WooCommerce lane: REST client, stream specs, the import engine, the core mapping and the Dagster assets."""
