<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="AllStyleCategories">
<pipe>
<rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor=""><rasterTransparency/><colorPalette><paletteEntry value="1" color="#1a9641" label="Very low (min – 0.2)" alpha="255"/><paletteEntry value="2" color="#a6d96a" label="Low (0.2 – 0.4)" alpha="255"/><paletteEntry value="3" color="#ffffbf" label="Moderate (0.4 – 0.6)" alpha="255"/><paletteEntry value="4" color="#fdae61" label="High (0.6 – 0.8)" alpha="255"/><paletteEntry value="5" color="#d7191c" label="Very high (0.8 – max)" alpha="255"/></colorPalette></rasterrenderer>
</pipe>
<blendMode>0</blendMode>
</qgis>
