<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="AllStyleCategories">
<pipe>
<rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" classificationMin="-1" classificationMax="1"><rasterTransparency/><rastershader><colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" minimumValue="-1" maximumValue="1"><item value="-1" color="#1a9641" label="-1 (stable)" alpha="255"/><item value="0" color="#ffffbf" label="0" alpha="255"/><item value="1" color="#d7191c" label="1" alpha="255"/></colorrampshader></rastershader></rasterrenderer>
</pipe>
<blendMode>0</blendMode>
</qgis>
