"""The blob stores: ``base.BlobStore`` (the interface, a plain pydantic model), ``local``
(``LocalBlobStore``: a folder, ``root/<container>/<path>``) and ``azure`` (``AzureBlobStore``:
Azure Blob Storage or Azurite). ``geo_platform.resources.blob_store`` picks one from settings.
"""
