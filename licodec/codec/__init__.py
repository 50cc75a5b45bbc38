"""The codec: fixed-point entropy parameters, range coding, the .lic container, the API."""
